//! `BulkDelete` through the client against the emulator: a job from an OData filter, a job
//! by ids, waiting for a job, canceling one, and the refusals that keep a filter the
//! QueryExpression cannot say exactly from ever reaching the service.

mod common;

use std::time::Duration;

use common::{api, builder};
use d365_testkit::{start, test_config};
use d365_webapi::{JobState, QueryExpression};

#[tokio::test]
async fn a_job_from_an_odata_filter_deletes_exactly_what_the_filter_matches() {
    let emulator = start(test_config(400)).await;
    let c = builder(&emulator.info()).build().unwrap();
    let filter = "statecode eq 1 or (numberofemployees lt 1000 and startswith(name,'A'))";
    let parsed = d365_odata::Filter::from_expr(d365_odata::parse_filter(filter).unwrap());
    let matching = c.count("accounts").filter(&parsed).send().await.unwrap();
    let total = c.count("accounts").send().await.unwrap();
    assert!(matching > 0 && matching < total, "{matching} of {total}");

    let query = QueryExpression::from_filter("account", filter).unwrap();
    let job = c
        .bulk_delete("Remove inactive and small A accounts", vec![query])
        .send()
        .await
        .unwrap();
    let done = c.wait_for_job(job, Duration::from_secs(30)).await.unwrap();
    assert!(done.succeeded(), "{done:?}");
    assert_eq!(done.state, JobState::Completed);
    assert_eq!(done.status_label.as_deref(), Some("Succeeded"));
    assert_eq!(done.name, "Remove inactive and small A accounts");
    assert_eq!(done.deleted, Some(matching as u64));
    assert_eq!(done.failed, Some(0));
    assert_eq!(c.count("accounts").filter(&parsed).send().await.unwrap(), 0);
    assert_eq!(
        c.count("accounts").send().await.unwrap(),
        total - matching,
        "nothing else is deleted"
    );
}

#[tokio::test]
async fn a_job_by_ids_and_a_canceled_job() {
    let emulator = start(test_config(20)).await;
    let c = builder(&emulator.info()).build().unwrap();
    let page = c
        .query("accounts")
        .select(["accountid"])
        .top(5)
        .send()
        .await
        .unwrap();
    let ids: Vec<uuid::Uuid> = page
        .items
        .iter()
        .map(|r| r["accountid"].as_str().unwrap().parse().unwrap())
        .collect();
    let job = c
        .bulk_delete(
            "five",
            vec![QueryExpression::ids("account", "accountid", &ids)],
        )
        .send()
        .await
        .unwrap();
    let done = c.wait_for_job(job, Duration::from_secs(30)).await.unwrap();
    assert_eq!(done.deleted, Some(5), "{done:?}");
    assert_eq!(c.count("accounts").send().await.unwrap(), 15);

    // A job for next year, canceled: it ends as canceled and deletes nothing.
    let later = time::OffsetDateTime::now_utc() + time::Duration::days(365);
    let job = c
        .bulk_delete("later", vec![QueryExpression::all("account")])
        .start_at(later)
        .send()
        .await
        .unwrap();
    let waiting = c.system_job(job).await.unwrap();
    assert_eq!((waiting.state, waiting.status), (JobState::Suspended, 10));
    let timeout = c.wait_for_job(job, Duration::from_millis(300)).await;
    assert!(
        matches!(timeout, Err(d365_webapi::Error::Timeout(_))),
        "{timeout:?}"
    );
    c.cancel_job(job).await.unwrap();
    let done = c.wait_for_job(job, Duration::from_secs(30)).await.unwrap();
    assert!(!done.succeeded());
    assert_eq!(done.status, 32, "{done:?}");
    assert_eq!(c.count("accounts").send().await.unwrap(), 15);
    let e = c.cancel_job(job).await.unwrap_err();
    assert!(e.to_string().contains("already ended"), "{e}");
}

#[tokio::test]
async fn refusals_from_the_client_and_from_the_service() {
    let emulator = start(test_config(3)).await;
    let c = builder(&emulator.info()).build().unwrap();
    // A wildcard in contains() would match more than the filter says: refused locally.
    let e = QueryExpression::from_filter("account", "contains(name,'100%')").unwrap_err();
    assert!(e.to_string().contains("LIKE wildcard"), "{e}");
    // An unknown column: the service refuses the job, naming the query.
    let q = QueryExpression::from_filter("account", "nosuchcolumn eq 1").unwrap();
    let e = api(c.bulk_delete("bad", vec![q]).send().await.unwrap_err());
    assert_eq!(e.status, 400);
    assert!(e.message.contains("QuerySet[0]"), "{e:?}");
    let e = c.bulk_delete("none", vec![]).send().await.unwrap_err();
    assert!(e.to_string().contains("at least one query"), "{e}");
    assert_eq!(c.count("accounts").send().await.unwrap(), 3);
}
