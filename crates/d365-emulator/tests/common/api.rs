//! A signed-in HTTP client of one emulator, with the JSON calls most tests make.

use d365_testkit::EmulatorInfo;
use serde_json::Value;

/// A signed-in HTTP client of one emulator.
#[allow(dead_code)] // not every test binary uses it
pub(crate) struct Api {
    pub(crate) http: reqwest::Client,
    pub(crate) info: EmulatorInfo,
    pub(crate) token: String,
}

#[allow(dead_code)] // not every test binary uses every call
impl Api {
    pub(crate) async fn new(info: EmulatorInfo) -> Self {
        let http = reqwest::Client::new();
        let token = super::app_token(&http, &info).await;
        Self { http, info, token }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            return path.to_owned();
        }
        format!("{}/api/data/v9.2/{path}", self.info.environment_url)
    }

    /// GET with an optional `Prefer`; the JSON answer (asserting 200).
    pub(crate) async fn get(&self, path: impl AsRef<str>, prefer: Option<&str>) -> Value {
        let text = self.get_text(path.as_ref(), prefer).await;
        serde_json::from_str(&text).unwrap()
    }

    /// [`Api::get`]'s answer as the text it came as (asserting 200).
    pub(crate) async fn get_text(&self, path: &str, prefer: Option<&str>) -> String {
        let mut request = self.http.get(self.url(path)).bearer_auth(&self.token);
        if let Some(p) = prefer {
            request = request.header("Prefer", p);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// GET with all annotations.
    pub(crate) async fn annotated(&self, path: impl AsRef<str>) -> Value {
        self.get(path, Some("odata.include-annotations=\"*\""))
            .await
    }

    /// POST a record (optionally impersonating); its id.
    pub(crate) async fn create(
        &self,
        set: &str,
        body: Value,
        headers: &[(&str, String)],
    ) -> uuid::Uuid {
        let mut request = self
            .http
            .post(self.url(set))
            .bearer_auth(&self.token)
            .json(&body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 204, "POST {set} {body}");
        let location = response.headers()["odata-entityid"].to_str().unwrap();
        let id = &location[location.rfind('(').unwrap() + 1..location.len() - 1];
        id.parse().unwrap()
    }

    pub(crate) async fn patch(&self, path: &str, body: Value) {
        let response = self
            .http
            .patch(self.url(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204, "PATCH {path} {body}");
    }

    /// The first row's id and primary name in `set`.
    pub(crate) async fn first(&self, set: &str, key: &str, name: &str) -> (String, String) {
        let page = self
            .get(&format!("{set}?$select={name}&$top=1"), None)
            .await;
        let row = &page["value"][0];
        (
            row[key].as_str().unwrap().to_owned(),
            row[name].as_str().unwrap().to_owned(),
        )
    }
}
