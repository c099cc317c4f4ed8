//! `d365 whoami`: the caller as Dataverse sees it (`WhoAmI`): user, business unit and
//! organization ids, as text or `--json`.

use std::process::ExitCode;

use crate::flags::WhoAmIArgs;

pub(crate) async fn run(args: WhoAmIArgs, profile: Option<&str>) -> anyhow::Result<ExitCode> {
    let client = super::web_client(&args.auth, profile).await?;
    let me = client.who_am_i().send().await?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "UserId": me.user_id,
                "BusinessUnitId": me.business_unit_id,
                "OrganizationId": me.organization_id,
                "environment": client.environment(),
            })
        );
    } else {
        println!("environment      {}", client.environment());
        println!("user id          {}", me.user_id);
        println!("business unit id {}", me.business_unit_id);
        println!("organization id  {}", me.organization_id);
    }
    Ok(ExitCode::SUCCESS)
}
