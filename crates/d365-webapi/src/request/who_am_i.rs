//! `GET {api}/WhoAmI`
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/whoami>).

use serde::Deserialize;

use crate::client::Client;
use crate::error::Error;

/// The caller's identity in the environment.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WhoAmI {
    /// The caller's `systemuserid`.
    pub user_id: uuid::Uuid,
    /// The caller's business unit.
    pub business_unit_id: uuid::Uuid,
    /// The organization.
    pub organization_id: uuid::Uuid,
}

/// The `WhoAmI` function call.
#[derive(Debug, Clone)]
pub struct WhoAmIRequest {
    client: Client,
}

impl WhoAmIRequest {
    pub(crate) fn new(client: Client) -> Self {
        Self { client }
    }

    /// The URL this request sends.
    pub fn url(&self) -> String {
        format!("{}/WhoAmI", self.client.api_root())
    }

    /// Sends it.
    pub async fn send(self) -> Result<WhoAmI, Error> {
        let url = self.url();
        let body = self.client.get_json(&url, None).await?.body;
        serde_json::from_value(body).map_err(|e| Error::Decode {
            url,
            message: e.to_string(),
        })
    }
}
