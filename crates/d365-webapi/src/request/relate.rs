//! Changing one thing about a record: its links to other records (`$ref`) and single properties
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/associate-disassociate-entities-using-web-api>).

use d365_http::reqwest::Method;
use serde_json::{Value, json};

use super::write::record_url;
use crate::client::Client;
use crate::error::Error;
use crate::request::RecordKey;

/// The absolute `@odata.id` of a record.
fn target_url(client: &Client, entity_set: &str, id: uuid::Uuid) -> String {
    format!("{}/{entity_set}({id})", client.api_root())
}

/// What a [`RelationRequest`] does.
#[derive(Debug, Clone)]
enum Relation {
    /// `POST {record}/{nav}/$ref`: adds to a collection-valued navigation property.
    Associate { target: String },
    /// `DELETE {record}/{nav}({id})/$ref`: removes from one.
    Disassociate { target_id: uuid::Uuid },
    /// `PUT {record}/{nav}/$ref`: sets a single-valued navigation property (a lookup).
    SetLookup { target: String },
    /// `DELETE {record}/{nav}/$ref`: clears a lookup.
    ClearLookup,
}

/// Links or unlinks two records through a navigation property.
#[derive(Debug, Clone)]
pub struct RelationRequest {
    client: Client,
    entity_set: String,
    key: RecordKey,
    navigation: String,
    relation: Relation,
}

impl RelationRequest {
    fn new(
        client: &Client,
        entity_set: &str,
        key: RecordKey,
        navigation: &str,
        relation: Relation,
    ) -> Self {
        Self {
            client: client.clone(),
            entity_set: entity_set.to_owned(),
            key,
            navigation: navigation.to_owned(),
            relation,
        }
    }

    pub(crate) fn associate(
        client: &Client,
        entity_set: &str,
        key: RecordKey,
        navigation: &str,
        target_set: &str,
        target_id: uuid::Uuid,
    ) -> Self {
        let target = target_url(client, target_set, target_id);
        Self::new(
            client,
            entity_set,
            key,
            navigation,
            Relation::Associate { target },
        )
    }

    pub(crate) fn disassociate(
        client: &Client,
        entity_set: &str,
        key: RecordKey,
        navigation: &str,
        target_id: uuid::Uuid,
    ) -> Self {
        Self::new(
            client,
            entity_set,
            key,
            navigation,
            Relation::Disassociate { target_id },
        )
    }

    pub(crate) fn set_lookup(
        client: &Client,
        entity_set: &str,
        key: RecordKey,
        navigation: &str,
        target_set: &str,
        target_id: uuid::Uuid,
    ) -> Self {
        let target = target_url(client, target_set, target_id);
        Self::new(
            client,
            entity_set,
            key,
            navigation,
            Relation::SetLookup { target },
        )
    }

    pub(crate) fn clear_lookup(
        client: &Client,
        entity_set: &str,
        key: RecordKey,
        navigation: &str,
    ) -> Self {
        Self::new(client, entity_set, key, navigation, Relation::ClearLookup)
    }

    /// The method and URL it sends.
    pub fn target(&self) -> (Method, String) {
        let record = record_url(&self.client, &self.entity_set, &self.key);
        let nav = &self.navigation;
        match &self.relation {
            Relation::Associate { .. } => (Method::POST, format!("{record}/{nav}/$ref")),
            Relation::Disassociate { target_id } => {
                (Method::DELETE, format!("{record}/{nav}({target_id})/$ref"))
            }
            Relation::SetLookup { .. } => (Method::PUT, format!("{record}/{nav}/$ref")),
            Relation::ClearLookup => (Method::DELETE, format!("{record}/{nav}/$ref")),
        }
    }

    /// Sends it. Associating is idempotent on the server's side (linking twice is one link),
    /// so it is retried like the other writes.
    pub async fn send(self) -> Result<(), Error> {
        let (method, url) = self.target();
        let body = match &self.relation {
            Relation::Associate { target } | Relation::SetLookup { target } => {
                Some(json!({"@odata.id": target}))
            }
            _ => None,
        };
        self.client
            .send(method, &url, body.as_ref(), &[])
            .await
            .map(|_| ())
    }
}

/// Sets or clears one property: `PUT {record}/{property}` with `{"value": …}`, or `DELETE`.
#[derive(Debug, Clone)]
pub struct PropertyRequest {
    client: Client,
    entity_set: String,
    key: RecordKey,
    property: String,
    value: Option<Value>,
}

impl PropertyRequest {
    pub(crate) fn new(
        client: &Client,
        entity_set: &str,
        key: RecordKey,
        property: &str,
        value: Option<Value>,
    ) -> Self {
        Self {
            client: client.clone(),
            entity_set: entity_set.to_owned(),
            key,
            property: property.to_owned(),
            value,
        }
    }

    /// The URL it sends to.
    pub fn url(&self) -> String {
        format!(
            "{}/{}",
            record_url(&self.client, &self.entity_set, &self.key),
            self.property
        )
    }

    /// Sends it.
    pub async fn send(self) -> Result<(), Error> {
        let url = self.url();
        let (method, body) = match self.value {
            Some(v) => (Method::PUT, Some(json!({"value": v}))),
            None => (Method::DELETE, None),
        };
        self.client
            .send(method, &url, body.as_ref(), &[])
            .await
            .map(|_| ())
    }
}
