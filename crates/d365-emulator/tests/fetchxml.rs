//! FetchXML through the Web API, over real HTTP: paging with the cookie the way
//! DynamicsWebApi and the Python SDK follow it, filters, link-entities, and errors.

mod common;

use d365_testkit::{Emulator, EmulatorInfo, start, test_config};
use serde_json::{Value, json};

struct Ctx {
    _emulator: Emulator,
    info: EmulatorInfo,
    http: reqwest::Client,
    token: String,
}

const ANNOTATIONS: &str = "odata.include-annotations=\"Microsoft.Dynamics.CRM.fetchxmlpagingcookie,Microsoft.Dynamics.CRM.morerecords\"";

impl Ctx {
    async fn new(accounts: usize) -> Self {
        let emulator = start(test_config(accounts)).await;
        let info = emulator.info();
        let http = reqwest::Client::new();
        let token = common::app_token(&http, &info).await;
        Self {
            _emulator: emulator,
            info,
            http,
            token,
        }
    }

    /// Runs a FetchXML query against `set` (form-encoded: spaces as `+`, as Python sends them).
    async fn fetch(&self, set: &str, xml: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}/api/data/v9.2/{set}", self.info.environment_url))
            .query(&[("fetchXml", xml)])
            .header("Prefer", ANNOTATIONS)
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn odata(&self, path: &str) -> Value {
        self.http
            .get(format!(
                "{}/api/data/v9.2/{path}",
                self.info.environment_url
            ))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn names(v: &Value) -> Vec<String> {
    v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The documented next-page step: take `pagingcookie`, URL-decode it twice, XML-escape it
/// into the `paging-cookie` attribute, and set `page` to `pagenumber`.
fn next_page(cookie_annotation: &str) -> (u32, String) {
    let attr = |name: &str| {
        let start = cookie_annotation.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        cookie_annotation[start..]
            .split('"')
            .next()
            .unwrap()
            .to_owned()
    };
    let page: u32 = attr("pagenumber").parse().unwrap();
    let decode = |s: &str| {
        let mut out = Vec::new();
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    };
    (page, decode(&decode(&attr("pagingcookie"))))
}

/// One page of seven accounts: `<fetch count="7">` around `entity` (the `<entity>` element),
/// with the paging cookie of the page before.
async fn cookie_page(c: &Ctx, page: u32, cookie: Option<&str>, entity: &str) -> (u16, Value) {
    let cookie_attr = cookie
        .map(|c| format!(" paging-cookie=\"{}\"", xml_escape(c)))
        .unwrap_or_default();
    c.fetch(
        "accounts",
        &format!("<fetch count=\"7\" page=\"{page}\"{cookie_attr}>{entity}</fetch>"),
    )
    .await
}

#[tokio::test]
async fn pages_with_the_paging_cookie_until_no_more_records() {
    let c = Ctx::new(20).await;
    let all = names(
        &c.odata("accounts?$select=name&$orderby=name,accountid")
            .await,
    );
    let mut seen = Vec::new();
    let (mut page, mut cookie) = (1u32, None::<String>);
    for round in 0.. {
        assert!(round < 5, "paging does not end");
        let (status, body) = cookie_page(
            &c,
            page,
            cookie.as_deref(),
            "<entity name=\"account\"><attribute name=\"name\"/><attribute name=\"description\"/><order attribute=\"name\"/></entity>",
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let rows = body["value"].as_array().unwrap();
        assert!(
            rows.iter().all(|r| r.get("description").is_none()),
            "null columns are left out"
        );
        assert!(
            rows.iter()
                .all(|r| r["accountid"].is_string() && r["@odata.etag"].is_string())
        );
        seen.extend(names(&body));
        let more = body["@Microsoft.Dynamics.CRM.morerecords"]
            .as_bool()
            .unwrap();
        match body["@Microsoft.Dynamics.CRM.fetchxmlpagingcookie"].as_str() {
            Some(annotation) => {
                assert!(more);
                assert!(annotation.contains("istracking=\"False\""), "{annotation}");
                let (next, inner) = next_page(annotation);
                assert_eq!(next, page + 1);
                assert!(
                    inner.starts_with(&format!("<cookie page=\"{page}\">")),
                    "{inner}"
                );
                page = next;
                cookie = Some(inner);
            }
            None => {
                assert!(!more, "the last page has no cookie");
                break;
            }
        }
    }
    assert_eq!(page, 3);
    assert_eq!(seen, all, "every row once, in order");

    // Simple paging by page number alone, and `top`.
    let (_, second) = c
        .fetch(
            "accounts",
            "<fetch count='7' page='2'><entity name='account'><attribute name='name'/><order attribute='name'/></entity></fetch>",
        )
        .await;
    assert_eq!(names(&second), all[7..14]);
    let (_, top) = c
        .fetch(
            "accounts",
            "<fetch top='3' returntotalrecordcount='true'><entity name='account'><attribute name='name'/><order attribute='name' descending='true'/></entity></fetch>",
        )
        .await;
    let mut last3: Vec<String> = all[17..].to_vec();
    last3.reverse();
    assert_eq!(names(&top), last3);
    assert_eq!(top["@Microsoft.Dynamics.CRM.morerecords"], false);
    assert_eq!(top["@Microsoft.Dynamics.CRM.totalrecordcount"], 20);
    assert!(
        top.get("@Microsoft.Dynamics.CRM.fetchxmlpagingcookie")
            .is_none()
    );
}

#[tokio::test]
async fn filters_match_the_equivalent_odata_query() {
    let c = Ctx::new(30).await;
    for (fetch_filter, odata_filter) in [
        (
            "<condition attribute='industrycode' operator='in'><value>7</value><value>20</value><value>33</value></condition>",
            "industrycode eq 7 or industrycode eq 20 or industrycode eq 33",
        ),
        (
            "<condition attribute='name' operator='like' value='%in%'/>",
            "contains(name,'in')",
        ),
        (
            "<condition attribute='name' operator='begins-with' value='C'/><condition attribute='statecode' operator='eq' value='0'/>",
            "startswith(name,'C') and statecode eq 0",
        ),
        (
            "<filter type='or'><condition attribute='numberofemployees' operator='lt' value='5000'/><condition attribute='revenue' operator='gt' value='400000000.5'/></filter>",
            "numberofemployees lt 5000 or revenue gt 400000000.5",
        ),
        (
            "<condition attribute='numberofemployees' operator='between'><value>1000</value><value>20000</value></condition>",
            "numberofemployees ge 1000 and numberofemployees le 20000",
        ),
        (
            "<condition attribute='createdon' operator='on-or-after' value='2023-01-01'/><condition attribute='creditonhold' operator='eq' value='0'/>",
            "createdon ge 2023-01-01T00:00:00Z and creditonhold eq false",
        ),
        (
            "<condition attribute='primarycontactid' operator='not-null'/><condition attribute='ownerid' operator='eq-userid'/>",
            "_primarycontactid_value ne null and _ownerid_value eq 00000000-0000-0000-0000-000000000000",
        ),
    ] {
        let (status, fetched) = c
            .fetch(
                "accounts",
                &format!("<fetch><entity name='account'><attribute name='name'/><order attribute='name'/><filter>{fetch_filter}</filter></entity></fetch>"),
            )
            .await;
        assert_eq!(status, 200, "{fetch_filter}: {fetched}");
        let expected = c
            .odata(&format!(
                "accounts?$select=name&$orderby=name,accountid&$filter={odata_filter}"
            ))
            .await;
        if odata_filter.contains("00000000-0000") {
            // eq-userid: the app owns nothing seeded; the first user owns everything.
            assert!(names(&fetched).is_empty(), "{fetched}");
            continue;
        }
        assert_eq!(names(&fetched), names(&expected), "{fetch_filter}");
        assert!(
            !names(&expected).is_empty() || fetch_filter.contains("between"),
            "{odata_filter} matches something"
        );
    }
}

#[tokio::test]
async fn link_entities_join_filter_and_return_aliased_columns() {
    let c = Ctx::new(10).await;
    // Many-to-one: the primary contact's name as `pc_x002e_fullname`.
    let (status, body) = c
        .fetch(
            "accounts",
            "<fetch><entity name='account'><attribute name='name'/><attribute name='primarycontactid'/>
               <link-entity name='contact' from='contactid' to='primarycontactid' alias='pc' link-type='outer'>
                 <attribute name='fullname'/><attribute name='birthdate'/></link-entity></entity></fetch>",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let odata = c
        .odata("accounts?$select=name&$expand=primarycontactid($select=fullname,birthdate)")
        .await;
    let rows = body["value"].as_array().unwrap();
    assert_eq!(rows.len(), 10);
    for row in rows {
        let expected = odata["value"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["accountid"] == row["accountid"])
            .unwrap();
        assert_eq!(
            row["pc_x002e_fullname"],
            expected["primarycontactid"]["fullname"]
        );
        assert_eq!(
            row["pc_x002e_birthdate"],
            expected["primarycontactid"]["birthdate"]
        );
        assert_eq!(
            row["_primarycontactid_value"],
            expected["primarycontactid"]["contactid"]
        );
    }

    // An outer link whose filter no linked row passes: every account, no linked columns.
    let (_, none) = c
        .fetch(
            "accounts",
            "<fetch><entity name='account'><attribute name='name'/>
               <link-entity name='contact' from='contactid' to='primarycontactid' alias='pc' link-type='outer'>
                 <attribute name='fullname'/>
                 <filter><condition attribute='lastname' operator='eq' value='NoSuchName'/></filter>
               </link-entity></entity></fetch>",
        )
        .await;
    let none = none["value"].as_array().unwrap();
    assert_eq!(none.len(), 10);
    assert!(none.iter().all(|r| r.get("pc_x002e_fullname").is_none()));

    // A link alias that names the main table does not shadow it.
    let (status, shadow) = c
        .fetch(
            "accounts",
            "<fetch><entity name='account'><attribute name='name'/>
               <link-entity name='contact' from='contactid' to='primarycontactid' alias='account'>
                 <attribute name='fullname'/></link-entity></entity></fetch>",
        )
        .await;
    assert_eq!(status, 200, "{shadow}");
    assert_eq!(shadow["value"].as_array().unwrap().len(), 10);
    assert!(shadow["value"][0]["account_x002e_fullname"].is_string());

    // Inner link with a filter on the linked table: accounts whose primary contact is X.
    let one = &rows[3];
    let lastname = c
        .odata(&format!(
            "contacts({})?$select=lastname",
            one["_primarycontactid_value"].as_str().unwrap()
        ))
        .await["lastname"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, filtered) = c
        .fetch(
            "accounts",
            &format!("<fetch><entity name='account'><attribute name='name'/>
               <link-entity name='contact' from='contactid' to='primarycontactid'>
                 <filter><condition attribute='lastname' operator='eq' value=\"{lastname}\"/></filter>
               </link-entity></entity></fetch>"),
        )
        .await;
    let ids: Vec<&Value> = filtered["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["accountid"])
        .collect();
    assert!(ids.contains(&&one["accountid"]), "{filtered}");
    assert!(ids.len() < 10);

    // Outer link + null condition: accounts without any opportunity. Every seeded account
    // has one; a new account has none.
    let r = c
        .http
        .post(format!("{}/api/data/v9.2/accounts", c.info.environment_url))
        .bearer_auth(&c.token)
        .json(&json!({"name": "Lonely Ltd"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (status, lonely) = c
        .fetch(
            "accounts",
            "<fetch><entity name='account'><attribute name='name'/>
               <link-entity name='opportunity' from='parentaccountid' to='accountid' alias='o' link-type='outer'/>
               <filter><condition entityname='o' attribute='opportunityid' operator='null'/></filter>
             </entity></fetch>",
        )
        .await;
    assert_eq!(status, 200, "{lonely}");
    assert_eq!(names(&lonely), ["Lonely Ltd"]);
}

#[tokio::test]
async fn bad_fetchxml_gets_a_clear_dataverse_error() {
    let c = Ctx::new(2).await;
    for (xml, set, status, code, words) in [
        (
            "<fetch><entity name='account'>",
            "accounts",
            400,
            "0x80040203",
            "not valid XML",
        ),
        (
            "<fetch><entity name='account'><attribute name='nosuch'/></entity></fetch>",
            "accounts",
            400,
            "0x80041103",
            "nosuch",
        ),
        (
            "<fetch><entity name='contact'/></fetch>",
            "accounts",
            400,
            "0x80040203",
            "does not match",
        ),
        (
            "<fetch><entity name='account'><filter><condition attribute='name' operator='sounds-like' value='x'/></filter></entity></fetch>",
            "accounts",
            400,
            "0x80040203",
            "sounds-like",
        ),
        (
            "<fetch><entity name='account'><filter><condition attribute='numberofemployees' operator='eq' value='many'/></filter></entity></fetch>",
            "accounts",
            400,
            "0x80040203",
            "'many'",
        ),
        (
            "<fetch><entity name='account'><filter><condition attribute='createdon' operator='last-x-days' value='99999999999'/></filter></entity></fetch>",
            "accounts",
            400,
            "0x80040203",
            "from 0 to",
        ),
        (
            "<fetch count='2' page='2' paging-cookie='&lt;cookie page=\"1\"&gt;&lt;bogus last=\"1\" /&gt;&lt;/cookie&gt;'><entity name='account'/></fetch>",
            "accounts",
            400,
            "0x8004112A",
            "paging cookie",
        ),
    ] {
        let (s, body) = c.fetch(set, xml).await;
        assert_eq!(s, status, "{xml}: {body}");
        assert_eq!(body["error"]["code"], code, "{xml}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{xml}: {message}");
    }
}

/// `<order>` on a lookup sorts by the related record's primary name, as `$orderby` does
/// (Learn, "Order rows using FetchXml": lookup columns), across pages of the paging cookie.
#[tokio::test]
async fn order_on_a_lookup_sorts_by_the_related_name_across_pages() {
    let c = Ctx::new(20).await;
    let ids = |v: &Value| -> Vec<String> {
        v["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["accountid"].as_str().unwrap().to_owned())
            .collect()
    };
    let odata = ids(&c
        .odata("accounts?$select=name&$orderby=_primarycontactid_value desc")
        .await);
    let by_name = c
        .odata(
            "accounts?$select=_primarycontactid_value&$expand=primarycontactid($select=fullname)",
        )
        .await;
    let mut names: Vec<String> = by_name["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["primarycontactid"]["fullname"]
                .as_str()
                .unwrap_or("")
                .to_lowercase()
        })
        .collect();
    names.sort();
    assert!(
        names.windows(2).any(|w| w[0] != w[1]),
        "the names differ: {names:?}"
    );
    let mut seen = Vec::new();
    let (mut page, mut cookie) = (1u32, None::<String>);
    loop {
        assert!(page < 6, "paging does not end");
        let (status, body) = cookie_page(
            &c,
            page,
            cookie.as_deref(),
            "<entity name=\"account\"><attribute name=\"name\"/><order attribute=\"primarycontactid\" descending=\"true\"/></entity>",
        )
        .await;
        assert_eq!(status, 200, "{body}");
        seen.extend(ids(&body));
        let Some(annotation) = body["@Microsoft.Dynamics.CRM.fetchxmlpagingcookie"].as_str() else {
            break;
        };
        let (next, inner) = next_page(annotation);
        (page, cookie) = (next, Some(inner));
    }
    assert_eq!(seen, odata, "FetchXML and $orderby agree, every row once");
}
