//! The emulator's HTML pages: the sign-in form (authorization code flow) and the device-code
//! page. Plain HTML forms, no script; every value is escaped.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:Segoe UI,Helvetica,Arial,sans-serif;background:#f2f2f2;margin:0}\
main{max-width:440px;margin:64px auto;background:#fff;padding:44px;box-shadow:0 2px 6px rgba(0,0,0,.2)}\
h1{font-size:24px;font-weight:600;margin:0 0 16px}.brand{color:#737373;font-size:13px;margin-bottom:24px}\
label{display:block;font-size:14px;margin:16px 0 4px}input[type=text],input[type=email],input[type=password]{width:100%;box-sizing:border-box;padding:8px;border:none;border-bottom:1px solid #666;font-size:15px}\
.error{color:#e81123;font-size:14px;margin:12px 0}.buttons{margin-top:28px;text-align:right}\
button{min-width:108px;padding:8px 12px;font-size:15px;border:none;margin-left:8px;cursor:pointer}\
button.primary{background:#0067b8;color:#fff}button.secondary{background:#ccc}.note{font-size:13px;color:#555;margin-top:20px}";

/// A complete page.
pub fn page(title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><style>{STYLE}</style></head>\
         <body><main><div class=\"brand\">d365 emulator &middot; Microsoft Entra ID</div>{body}</main></body></html>",
        escape(title)
    );
    let mut response = (StatusCode::OK, html).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An error page (a request that cannot be redirected back to the app).
pub fn error_page(code: u32, message: &str) -> Response {
    let mut response = page(
        "Sign in",
        &format!(
            "<h1>Sorry, but we're having trouble signing you in.</h1><p class=\"error\">AADSTS{code}: {}</p>",
            escape(message)
        ),
    );
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response
}

/// Hidden inputs that carry request parameters through a form post.
pub fn hidden(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(k),
                escape(v)
            )
        })
        .collect()
}

/// The username and password form.
pub fn sign_in_form(
    action: &str,
    app_name: &str,
    login_hint: &str,
    error: Option<&str>,
    carry: &[(String, String)],
) -> Response {
    let error = error
        .map(|e| format!("<p class=\"error\" id=\"error\">{}</p>", escape(e)))
        .unwrap_or_default();
    page(
        "Sign in to your account",
        &format!(
            "<h1>Sign in</h1><p>to continue to <b>{}</b></p>{error}\
             <form method=\"post\" action=\"{}\">{}\
             <label for=\"username\">Email or phone</label><input type=\"email\" id=\"username\" name=\"username\" value=\"{}\" autocomplete=\"username\" required>\
             <label for=\"password\">Password</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
             <div class=\"buttons\"><button type=\"submit\" class=\"primary\" id=\"signin\" name=\"action\" value=\"signin\">Sign in</button></div></form>",
            escape(app_name),
            escape(action),
            hidden(carry),
            escape(login_hint)
        ),
    )
}
