//! `d365 auth`: login (password, secret, certificate, device code, browser), status, token,
//! logout, and profiles.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use d365_auth::grant::{
    AuthorizationCodeGrant, DeviceCodeGrant, Pkce, authorize_url, random_token,
};
use d365_auth::{
    AuthorizationCode, EndpointVersion, SignIn, Target, TokenCredential, TokenResponse,
    decode_claims,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::auth::{Grant, Settings};
use crate::flags::{
    AuthCommand, AuthOnlyArgs, AuthTokenArgs, LoginArgs, ProfileAddArgs, ProfileCommand,
};
use crate::profile::{Config, GrantKind, Profile, SecretSource};

pub(crate) async fn run(command: AuthCommand, profile: Option<&str>) -> anyhow::Result<ExitCode> {
    match command {
        AuthCommand::Login(args) => login(args, profile).await,
        AuthCommand::Status(args) => status(args, profile).await,
        AuthCommand::Token(args) => token(args, profile).await,
        AuthCommand::Logout(args) => logout(args, profile).await,
        AuthCommand::Profile(cmd) => profile_cmd(cmd),
    }
}

/// Scopes for an interactive user sign-in.
fn user_target(settings: &Settings, resource: &str) -> Target {
    match settings.endpoint {
        EndpointVersion::V1 => Target::Resource(resource.to_owned()),
        EndpointVersion::V2 => Target::Scopes(vec![
            format!("{resource}/.default"),
            "offline_access".into(),
            "openid".into(),
            "profile".into(),
        ]),
    }
}

async fn login(args: LoginArgs, profile: Option<&str>) -> anyhow::Result<ExitCode> {
    let mut settings = Settings::resolve(&args.auth, profile)?;
    let resource = settings.environment()?;
    let interactive =
        args.device_code || args.browser || matches!(settings.grant, Grant::Session { .. });
    let account = if interactive {
        let tc = settings.token_client()?;
        let target = user_target(&settings, &resource);
        let (grant, response) = if args.browser
            || matches!(
                settings.grant,
                Grant::Session {
                    kind: GrantKind::Browser,
                    ..
                }
            ) && !args.device_code
        {
            (
                "authorization_code",
                browser_sign_in(&settings, &tc, &target).await?,
            )
        } else {
            (
                "device_code",
                device_code_sign_in(&settings, &tc, &target).await?,
            )
        };
        let upn = d365_auth::account_of(response.access_token.secret())
            .context("the token names no user")?;
        settings.grant = Grant::Session {
            username: Some(upn.clone()),
            kind: GrantKind::DeviceCode,
        };
        let credential = settings.credential(&resource).await?;
        credential.store(&resource, grant, &response).await?;
        remember_user(&settings, &upn)?;
        upn
    } else {
        // Really sign in (a cached token would prove nothing), then share the session.
        let credential = settings.credential(&resource).await?;
        let response = credential.fetch_token(&resource).await?;
        credential
            .store(&resource, credential.grant_name(), &response)
            .await?;
        credential
            .account()
            .unwrap_or_else(|| format!("app {}", settings.client_id))
    };
    eprintln!(
        "Signed in as {} to {resource} (tenant {}).",
        crate::output::printable(&account),
        settings.tenant
    );
    Ok(ExitCode::SUCCESS)
}

/// After an interactive sign-in, the profile remembers who signed in.
fn remember_user(settings: &Settings, upn: &str) -> anyhow::Result<()> {
    if let Some((name, _)) = &settings.profile {
        let path = Config::path()?;
        let mut config = Config::load(&path)?;
        if let Some(p) = config.profiles.get_mut(name) {
            p.username = Some(upn.to_owned());
            config.save(&path)?;
        }
    }
    Ok(())
}

async fn device_code_sign_in(
    settings: &Settings,
    tc: &d365_auth::TokenClient,
    target: &Target,
) -> anyhow::Result<TokenResponse> {
    let authorization = tc
        .device_authorization(settings.endpoint, target, &settings.client_id)
        .await?;
    let message = authorization.message.clone().unwrap_or_else(|| {
        format!("To sign in, use a web browser to open the page {} and enter the code {} to authenticate.", authorization.verification_uri, authorization.user_code)
    });
    eprintln!("{}", crate::output::printable(&message));
    let grant = DeviceCodeGrant {
        client_id: settings.client_id.clone(),
        client_secret: None,
        device_code: authorization.device_code.clone(),
    };
    Ok(tc
        .poll_device_code(
            settings.endpoint,
            target,
            &grant,
            &authorization,
            tokio::time::sleep,
        )
        .await?)
}

/// Authorization code + PKCE: a one-shot listener on 127.0.0.1, the browser (or a printed
/// URL), a `state` check, then the code exchange.
async fn browser_sign_in(
    settings: &Settings,
    tc: &d365_auth::TokenClient,
    target: &Target,
) -> anyhow::Result<TokenResponse> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("listening for the sign-in redirect")?;
    // The address the listener is bound to, not `localhost`: that name may resolve to ::1 or
    // elsewhere (RFC 8252 §8.3), and the browser must reach this very socket.
    let redirect_uri = format!("http://{}/", listener.local_addr()?);
    let pkce = Pkce::new();
    let state = random_token();
    let url = authorize_url(
        &settings.authority()?,
        settings.endpoint,
        &settings.client_id,
        &redirect_uri,
        target,
        &state,
        &pkce.challenge,
    );
    eprintln!("Opening the sign-in page in your browser. If it does not open, go to:\n{url}");
    open_browser(url.as_str());
    let timeout = std::env::var("D365_LOGIN_TIMEOUT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let query = tokio::time::timeout(
        Duration::from_secs(timeout),
        receive_redirect(&listener, &state),
    )
    .await
    .context("no sign-in within the time limit")??;
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if let Some(error) = get("error") {
        bail!(
            "sign-in failed: {}: {}",
            printable(&error),
            printable(&get("error_description").unwrap_or_default())
        );
    }
    let code = get("code").context("the sign-in redirect carried no code")?;
    let grant = AuthorizationCodeGrant {
        client_id: settings.client_id.clone(),
        client_secret: None,
        code: AuthorizationCode::new(code),
        redirect_uri,
        code_verifier: pkce.verifier,
    };
    Ok(tc.request(settings.endpoint, target, &grant).await?)
}

/// Opens `url` with `$BROWSER`, else the platform opener; failures are fine (the URL is printed).
fn open_browser(url: &str) {
    let opener = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| {
            if cfg!(target_os = "macos") {
                "open".into()
            } else {
                "xdg-open".into()
            }
        });
    let _ = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

/// Accepts connections until one brings `GET /?…&state=<ours>`, answers it, returns its
/// query. Anything else (a stray local connection, a preconnect, a request with another state)
/// is answered and ignored: only the real redirect can end the wait. Each connection gets a few
/// seconds to send its request line, so a silent one cannot stall the sign-in.
async fn receive_redirect(
    listener: &tokio::net::TcpListener,
    state: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    loop {
        let (mut stream, _) = listener.accept().await?;
        let target =
            match tokio::time::timeout(Duration::from_secs(5), read_request_target(&mut stream))
                .await
            {
                Ok(Ok(Some(target))) => target,
                _ => continue,
            };
        let query: Vec<(String, String)> = match target.split_once('?') {
            Some((_, q)) => url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect(),
            None => Vec::new(),
        };
        if !query.iter().any(|(k, v)| k == "state" && v == state) {
            let _ = stream
                .write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
            continue;
        }
        let body = "<!DOCTYPE html><html><body style=\"font-family:sans-serif\"><h1>d365</h1><p>Sign-in complete. You can close this tab and return to the terminal.</p></body></html>";
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        return Ok(query);
    }
}

/// The target of a `GET` request line, read up to its end (or 16 KiB).
async fn read_request_target(
    stream: &mut tokio::net::TcpStream,
) -> std::io::Result<Option<String>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(2).any(|w| w == b"\r\n") && buf.len() < 16 * 1024 {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    Ok(head
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("GET "))
        .and_then(|l| l.split(' ').next())
        .map(str::to_owned))
}

/// Text from the network shown on a terminal: control characters escaped, at most 500 chars.
fn printable(s: &str) -> String {
    let short: String = s.chars().take(500).collect();
    crate::output::printable(&short).into_owned()
}

fn local(t: i64) -> String {
    let offset = crate::LOCAL_OFFSET
        .get()
        .copied()
        .unwrap_or(time::UtcOffset::UTC);
    time::OffsetDateTime::from_unix_timestamp(t)
        .map(|t| t.to_offset(offset))
        .ok()
        .and_then(|t| t.format(&time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] [offset_hour sign:mandatory]:[offset_minute]")).ok())
        .unwrap_or_else(|| t.to_string())
}

fn relative(t: i64) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let d = t - now;
    if d < 0 {
        format!("expired {} min ago", (-d) / 60)
    } else if d < 120 {
        format!("in {d} s")
    } else {
        format!("in {} min", d / 60)
    }
}

async fn status(args: AuthOnlyArgs, profile: Option<&str>) -> anyhow::Result<ExitCode> {
    let settings = Settings::resolve(&args.auth, profile)?;
    let cache = Settings::cache()?;
    let lock = cache.lock_async().await?;
    let authority = settings.authority()?.url().to_ascii_lowercase();
    let entries: Vec<_> = lock
        .read()?
        .entries
        .into_values()
        .filter(|e| {
            e.authority.to_ascii_lowercase() == authority
                && e.client_id.eq_ignore_ascii_case(&settings.client_id)
        })
        .collect();
    drop(lock);
    let mut out = std::io::stdout().lock();
    if let Some((name, _)) = &settings.profile {
        writeln!(out, "profile    {name}")?;
    }
    writeln!(out, "tenant     {}", settings.tenant)?;
    writeln!(out, "client     {}", settings.client_id)?;
    writeln!(out, "cache      {}", cache.path().display())?;
    if entries.is_empty() {
        writeln!(out, "not signed in")?;
        return Ok(ExitCode::from(1));
    }
    for e in entries {
        let who = e
            .account
            .clone()
            .unwrap_or_else(|| format!("app {}", e.client_id));
        writeln!(
            out,
            "\n{who}\n  resource   {}\n  grant      {}\n  expires    {} ({})\n  refresh    {}{}",
            e.resource,
            e.grant,
            local(e.expires_at),
            relative(e.expires_at),
            local(e.refresh_at),
            if e.refresh_token.is_some() {
                "  (refresh token cached)"
            } else {
                ""
            }
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `d365 token` and `d365 auth token`.
pub(crate) async fn token(args: AuthTokenArgs, profile: Option<&str>) -> anyhow::Result<ExitCode> {
    let settings = Settings::resolve(&args.auth, profile)?;
    let resource = match args.resource {
        Some(r) => r,
        None => settings.environment()?,
    };
    let credential = settings.credential(&resource).await?;
    let token = credential.get_token(&resource).await?;
    if !args.decode {
        println!("{}", token.secret());
        return Ok(ExitCode::SUCCESS);
    }
    let claims = decode_claims(token.secret()).context("the token is not a JWT")?;
    let s = |k: &str| {
        claims
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("-")
            .to_owned()
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "audience   {}   (aud: the resource this token is for)",
        s("aud")
    )?;
    writeln!(out, "issuer     {}   (tenant {})", s("iss"), s("tid"))?;
    writeln!(out, "app        {}", s("appid"))?;
    match claims.get("scp").and_then(|v| v.as_str()) {
        Some(scp) => {
            writeln!(out, "user       {}   (oid {})", s("upn"), s("oid"))?;
            writeln!(
                out,
                "scopes     {scp}   (scp: delegated permissions, acting as the user)"
            )?;
        }
        None => {
            let roles = claims
                .get("roles")
                .and_then(|v| v.as_array())
                .map(|r| {
                    r.iter()
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .filter(|r| !r.is_empty());
            writeln!(
                out,
                "identity   application (service principal {})",
                s("oid")
            )?;
            writeln!(
                out,
                "roles      {}   (roles: app permissions; Dataverse uses the app user's security roles)",
                roles.unwrap_or_else(|| "(none)".into())
            )?;
        }
    }
    let times = |k: &str| claims.get(k).and_then(|v| v.as_i64());
    if let Some(exp) = times("exp") {
        writeln!(out, "expires    {} ({})", local(exp), relative(exp))?;
    }
    if let Some(iat) = times("iat") {
        writeln!(out, "issued     {}", local(iat))?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn logout(args: AuthOnlyArgs, profile: Option<&str>) -> anyhow::Result<ExitCode> {
    let settings = Settings::resolve(&args.auth, profile)?;
    let cache = Settings::cache()?;
    let lock = cache.lock_async().await?;
    let mut contents = lock.read()?;
    let authority = settings.authority()?.url().to_ascii_lowercase();
    let same_app = |e: &d365_auth::cache::CacheEntry| {
        e.authority.to_ascii_lowercase() == authority
            && e.client_id.eq_ignore_ascii_case(&settings.client_id)
    };
    // Whose sessions: the user's, or for app credentials only the app's own (never users').
    let account: Option<String> = match &settings.grant {
        Grant::App(SignIn::Password { username, .. })
        | Grant::Session {
            username: Some(username),
            ..
        } => Some(username.clone()),
        Grant::Session { username: None, .. } => {
            let accounts: Vec<String> = contents
                .entries
                .values()
                .filter(|e| same_app(e))
                .filter_map(|e| e.account.clone())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            match accounts.as_slice() {
                [] => None,
                [one] => Some(one.clone()),
                _ => bail!(
                    "several accounts are signed in ({}): choose one with --username",
                    accounts.join(", ")
                ),
            }
        }
        Grant::App(SignIn::ClientSecret(_) | SignIn::Certificate(_)) => None,
    };
    let before = contents.entries.len();
    contents.entries.retain(|_, e| {
        let same_account = match &account {
            Some(a) => e
                .account
                .as_deref()
                .is_some_and(|x| x.eq_ignore_ascii_case(a)),
            None => e.account.is_none(),
        };
        !(same_app(e) && same_account)
    });
    let removed = before - contents.entries.len();
    lock.write(&contents)?;
    eprintln!("Signed out: {removed} cached session(s) removed.");
    Ok(ExitCode::SUCCESS)
}

fn profile_cmd(cmd: ProfileCommand) -> anyhow::Result<ExitCode> {
    let path = Config::path()?;
    let mut config = Config::load(&path)?;
    match cmd {
        ProfileCommand::Add(args) => {
            let name = args.name.clone();
            let make_current = args.make_current || config.current.is_none();
            config.profiles.insert(name.clone(), profile_from(*args)?);
            if make_current {
                config.current = Some(name.clone());
            }
            config.save(&path)?;
            eprintln!(
                "Profile '{name}' saved in {}{}.",
                path.display(),
                if make_current { " (current)" } else { "" }
            );
        }
        ProfileCommand::List => {
            if config.profiles.is_empty() {
                eprintln!(
                    "No profiles yet: `d365 auth profile add <name> --url … --tenant … --client-id … --grant …`"
                );
            }
            for (name, p) in &config.profiles {
                let mark = if config.current.as_deref() == Some(name) {
                    "*"
                } else {
                    " "
                };
                println!(
                    "{mark} {name:<16} {:<12} {}  tenant {}  client {}",
                    format!("{:?}", p.grant).to_lowercase(),
                    p.url,
                    p.tenant,
                    p.client_id
                );
            }
        }
        ProfileCommand::Use { name } => {
            if !config.profiles.contains_key(&name) {
                bail!("no profile named '{name}' (see `d365 auth profile list`)");
            }
            config.current = Some(name.clone());
            config.save(&path)?;
            eprintln!("Now using profile '{name}'.");
        }
        ProfileCommand::Remove { name } => {
            if config.profiles.remove(&name).is_none() {
                bail!("no profile named '{name}'");
            }
            if config.current.as_deref() == Some(name.as_str()) {
                config.current = None;
            }
            config.save(&path)?;
            eprintln!("Profile '{name}' removed.");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn profile_from(args: ProfileAddArgs) -> anyhow::Result<Profile> {
    let secret = match (args.secret_env, args.secret_file, args.secret_prompt) {
        (Some(var), _, _) => Some(SecretSource::Env(var)),
        (_, Some(file), _) => Some(SecretSource::File(file)),
        (_, _, true) => Some(SecretSource::Prompt),
        _ => None,
    };
    let password = match (args.password_env, args.password_file, args.password_prompt) {
        (Some(var), _, _) => Some(SecretSource::Env(var)),
        (_, Some(file), _) => Some(SecretSource::File(file)),
        (_, _, true) => Some(SecretSource::Prompt),
        _ => None,
    };
    match args.grant {
        GrantKind::ClientSecret if secret.is_none() => {
            bail!("a client-secret profile needs --secret-env, --secret-file or --secret-prompt")
        }
        GrantKind::Password if args.username.is_none() || password.is_none() => bail!(
            "a password profile needs --username and --password-env, --password-file or --password-prompt"
        ),
        _ => {}
    }
    Ok(Profile {
        url: args.url.trim_end_matches('/').to_owned(),
        tenant: args.tenant,
        client_id: args.client_id,
        authority_host: args
            .authority_host
            .unwrap_or_else(|| d365_auth::PUBLIC_CLOUD_HOST.to_owned()),
        grant: args.grant,
        username: args.username,
        secret,
        password,
        endpoint: match args.endpoint {
            crate::flags::Endpoint::V1 => "v1".into(),
            crate::flags::Endpoint::V2 => "v2".into(),
        },
    })
}
