//! The bodies' hostile inputs: QueryExpression in `BulkDelete`, deep JSON, and `$batch`
//! with hostile parts.

use axum::http::Method;

use super::Expect::{BatchAnswered, BatchPartRejected, Rejected};
use super::queries::nest;
use super::{API, Case, Expect, Req, case, encode, post_json};

/// A `BulkDelete` whose first query is `query` (JSON text); the second names no table, so no
/// job is ever created.
fn bulk_delete(query: &str) -> String {
    format!(
        r#"{{"QuerySet":[{query},{{"EntityName":"hostile_no_such_table"}}],"JobName":"hostile","SendEmailNotification":false,"ToRecipients":[],"CCRecipients":[],"RecurrencePattern":"","StartDateTime":"2099-01-01T00:00:00Z"}}"#
    )
}

pub(super) fn query_expression_depth() -> Vec<Case> {
    // Built as text: a `serde_json::Value` this deep would overflow this test's own stack
    // (building, printing and dropping one recurse).
    let condition = r#"{"FilterOperator":"And","Conditions":[{"AttributeName":"name","Operator":"Equal","Values":[{"Value":"x","Type":"System.String"}]}]}"#;
    let filters = |depth: usize| {
        format!(
            r#"{{"EntityName":"account","Criteria":{}}}"#,
            nest(
                r#"{"FilterOperator":"Or","Filters":["#,
                condition,
                "]}",
                depth
            )
        )
    };
    let link = r#""LinkFromEntityName":"account","LinkToEntityName":"contact","LinkFromAttributeName":"accountid","LinkToAttributeName":"parentcustomerid""#;
    let links = |depth: usize| {
        format!(
            r#"{{"EntityName":"account","LinkEntities":[{}]}}"#,
            nest(
                &format!("{{{link},\"LinkEntities\":["),
                &format!("{{{link}}}"),
                "]}",
                depth
            )
        )
    };
    // serde_json refuses documents over 128 levels, so the deepest a QueryExpression can get
    // is about 60 nested filters; deeper ones must be refused by the JSON reader.
    vec![
        post_json(
            "BulkDelete with Criteria.Filters nested 60 deep",
            "BulkDelete",
            bulk_delete(&filters(60)),
            Rejected,
        ),
        post_json(
            "BulkDelete with Criteria.Filters nested 10,000 deep",
            "BulkDelete",
            bulk_delete(&filters(10_000)),
            Rejected,
        ),
        post_json(
            "BulkDelete with LinkEntities nested 30 deep",
            "BulkDelete",
            bulk_delete(&links(30)),
            Rejected,
        ),
        post_json(
            "BulkDelete with LinkEntities nested 5,000 deep",
            "BulkDelete",
            bulk_delete(&links(5_000)),
            Rejected,
        ),
    ]
}

pub(super) fn json_depth() -> Vec<Case> {
    let id = "00000000-0000-0000-0000-000000000001";
    vec![
        post_json(
            "POST accounts with [[[[… 100,000 deep",
            "accounts",
            "[".repeat(100_000),
            Rejected,
        ),
        post_json(
            "POST accounts with {\"a\":{\"a\":… 100,000 deep",
            "accounts",
            "{\"a\":".repeat(100_000),
            Rejected,
        ),
        post_json(
            "POST accounts with a name of [[[[… 100,000 deep, closed",
            "accounts",
            format!("{{\"name\":{}}}", nest("[", "1", "]", 100_000)),
            Rejected,
        ),
        case(
            "PATCH accounts(id) with [[[[… 100,000 deep",
            Req::Send(
                Method::PATCH,
                format!("accounts({id})"),
                "application/json".into(),
                "[".repeat(100_000),
            ),
            Rejected,
        ),
        post_json(
            "POST CreateMultiple with Targets [[[[… 100,000 deep",
            "accounts/Microsoft.Dynamics.CRM.CreateMultiple",
            format!("{{\"Targets\":{}", "[".repeat(100_000)),
            Rejected,
        ),
    ]
}

fn part(method: &str, url: &str, body: Option<&str>, content_id: Option<&str>) -> String {
    let mut lines = vec![
        "Content-Type: application/http".to_owned(),
        "Content-Transfer-Encoding: binary".to_owned(),
    ];
    if let Some(id) = content_id {
        lines.push(format!("Content-ID: {id}"));
    }
    lines.push(String::new());
    lines.push(format!("{method} {} HTTP/1.1", encode(url)));
    match body {
        Some(body) => {
            lines.push("Content-Type: application/json".into());
            lines.push(String::new());
            lines.push(body.to_owned());
        }
        None => lines.push(String::new()),
    }
    lines.join("\r\n") + "\r\n"
}

fn multipart(boundary: &str, parts: &[String]) -> String {
    let mut text: String = parts
        .iter()
        .map(|p| format!("--{boundary}\r\n{p}"))
        .collect();
    text.push_str(&format!("--{boundary}--\r\n"));
    text
}

fn change_set(name: &str, parts: &[String]) -> String {
    format!(
        "Content-Type: multipart/mixed; boundary={name}\r\n\r\n{}",
        multipart(name, parts)
    )
}

fn batch_case(label: &str, parts: &[String], expect: Expect) -> Case {
    case(
        label,
        Req::Send(
            Method::POST,
            "$batch".into(),
            "multipart/mixed; boundary=batch_h".into(),
            multipart("batch_h", parts),
        ),
        expect,
    )
}

pub(super) fn batch() -> Vec<Case> {
    let api = API;
    let mut nested = part(
        "POST",
        &format!("{api}/accounts"),
        Some("{\"name\":\"x\"}"),
        Some("1"),
    );
    for i in 0..1_000 {
        nested = change_set(&format!("cs{i}"), &[nested]);
    }
    let deep_get = |label: &str, query: String| {
        batch_case(
            label,
            &[part("GET", &format!("{api}/accounts?{query}"), None, None)],
            BatchPartRejected,
        )
    };
    vec![
        batch_case(
            "$batch with change sets nested 1,000 deep",
            &[nested],
            Rejected,
        ),
        batch_case(
            "$batch change set with a POST body [[[[… 100,000 deep",
            &[change_set(
                "cs",
                &[part(
                    "POST",
                    &format!("{api}/accounts"),
                    Some(&"[".repeat(100_000)),
                    Some("1"),
                )],
            )],
            BatchPartRejected,
        ),
        deep_get(
            "$batch GET part with 20,000 nested parentheses (URL up to 65,536 in a batch)",
            format!("$filter={}", nest("(", "name eq 'x'", ")", 20_000)),
        ),
        // Long but flat, through a batch for its 65,536-character URL cap: 1,000 conditions
        // make SQLite's expression tree too deep unless the query is built flat.
        batch_case(
            "$batch GET part: FetchXML with 1,000 flat conditions",
            &[part(
                "GET",
                &format!(
                    "{api}/accounts?fetchXml=<fetch><entity name='account'><filter type='or'>{}</filter></entity></fetch>",
                    "<condition attribute='name' operator='null'/>".repeat(1_000)
                ),
                None,
                None,
            )],
            BatchAnswered,
        ),
        deep_get(
            "$batch GET part with $filter=@p1&@p1=not @p1",
            "$filter=@p1&@p1=not @p1".into(),
        ),
        deep_get(
            "$batch GET part with $expand 5,000 deep",
            format!("$expand={}", nest("a($expand=", "a", ")", 5_000)),
        ),
        batch_case(
            "$batch of 50 GET parts, each a self-referencing alias",
            &vec![
                part(
                    "GET",
                    &format!("{api}/accounts?$filter=@p1&@p1=name eq 'x' or @p1"),
                    None,
                    None
                );
                50
            ],
            BatchPartRejected,
        ),
    ]
}
