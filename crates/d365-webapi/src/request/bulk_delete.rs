//! `BulkDelete`, the way to delete many records of standard tables: an asynchronous system
//! job that deletes whatever its queries match, and the calls that follow a system job to its
//! end (<https://learn.microsoft.com/power-apps/developer/data-platform/delete-data-bulk>).

use std::time::Duration;

use d365_http::reqwest::Method;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::client::Client;
use crate::error::Error;
use crate::query_expression::QueryExpression;

/// `POST {api}/BulkDelete`: starts a job deleting every record its queries match.
#[derive(Debug, Clone)]
pub struct BulkDeleteRequest {
    client: Client,
    job_name: String,
    queries: Vec<QueryExpression>,
    start: Option<OffsetDateTime>,
}

impl BulkDeleteRequest {
    /// Runs the job at `when` instead of now.
    pub fn start_at(mut self, when: OffsetDateTime) -> Self {
        self.start = Some(when);
        self
    }

    /// The action's parameters.
    pub fn body(&self) -> Result<Value, Error> {
        if self.queries.is_empty() {
            return Err(Error::InvalidQuery(
                "a bulk delete needs at least one query".into(),
            ));
        }
        let start = self
            .start
            .unwrap_or_else(OffsetDateTime::now_utc)
            .format(&Rfc3339)
            .map_err(|e| Error::InvalidQuery(format!("StartDateTime: {e}")))?;
        Ok(json!({
            "QuerySet": self.queries.iter().map(QueryExpression::to_json).collect::<Vec<_>>(),
            "JobName": self.job_name,
            "SendEmailNotification": false,
            "ToRecipients": [],
            "CCRecipients": [],
            "RecurrencePattern": "",
            "StartDateTime": start,
        }))
    }

    /// Starts the job; answers its id (follow it with [`Client::system_job`] or
    /// [`Client::wait_for_job`]).
    pub async fn send(self) -> Result<uuid::Uuid, Error> {
        let body = self.body()?;
        let url = format!("{}/BulkDelete", self.client.api_root());
        let answer = self
            .client
            .send(Method::POST, &url, Some(&body), &[])
            .await?;
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Started {
            job_id: uuid::Uuid,
        }
        let started: Started = serde_json::from_slice(&answer.body).map_err(|e| Error::Decode {
            url: answer.path.clone(),
            message: format!("a BulkDelete answer without a JobId: {e}"),
        })?;
        Ok(started.job_id)
    }
}

/// Where a system job is (`asyncoperation.statecode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Waiting to run (0).
    Ready,
    /// Paused (1).
    Suspended,
    /// Running (2).
    Locked,
    /// Ended: succeeded, failed or canceled (3).
    Completed,
}

impl JobState {
    fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => Self::Ready,
            1 => Self::Suspended,
            2 => Self::Locked,
            3 => Self::Completed,
            _ => return None,
        })
    }
}

/// A system job as `asyncoperations` shows it, with a bulk delete's counts.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemJob {
    /// `asyncoperationid`.
    pub id: uuid::Uuid,
    /// `name`.
    pub name: String,
    /// `statecode`.
    pub state: JobState,
    /// `statuscode`: 0 waiting for resources (Ready), 10 waiting (Suspended, e.g. scheduled
    /// later), 20 in progress, 21 pausing, 22 canceling (Locked), 30 succeeded, 31 failed,
    /// 32 canceled (Completed).
    pub status: i64,
    /// The status's label (`Succeeded`), when the service sends it.
    pub status_label: Option<String>,
    /// `message`: why it failed, or what it did.
    pub message: Option<String>,
    /// Records deleted so far (bulk delete jobs).
    pub deleted: Option<u64>,
    /// Records that could not be deleted (bulk delete jobs).
    pub failed: Option<u64>,
}

impl SystemJob {
    /// Whether the job has ended.
    pub fn is_completed(&self) -> bool {
        self.state == JobState::Completed
    }

    /// Whether it ended well (`statuscode` 30).
    pub fn succeeded(&self) -> bool {
        self.is_completed() && self.status == 30
    }
}

impl Client {
    /// `BulkDelete`: a system job deleting every record `queries` match, possibly of several
    /// tables; not all or nothing (what was deleted stays deleted if the job fails later).
    ///
    /// ```no_run
    /// # async fn f(c: d365_webapi::Client) -> Result<(), d365_webapi::Error> {
    /// use d365_webapi::QueryExpression;
    /// let query = QueryExpression::from_filter("account", "statecode eq 1")?;
    /// let job = c.bulk_delete("Remove inactive accounts", vec![query]).send().await?;
    /// let done = c.wait_for_job(job, std::time::Duration::from_secs(600)).await?;
    /// println!("deleted {:?}", done.deleted);
    /// # Ok(()) }
    /// ```
    pub fn bulk_delete(&self, job_name: &str, queries: Vec<QueryExpression>) -> BulkDeleteRequest {
        BulkDeleteRequest {
            client: self.clone(),
            job_name: job_name.to_owned(),
            queries,
            start: None,
        }
    }

    /// A system job now: `GET asyncoperations({id})`, and for a bulk delete its counts from
    /// `bulkdeleteoperations`.
    pub async fn system_job(&self, id: uuid::Uuid) -> Result<SystemJob, Error> {
        let root = self.api_root();
        let url = format!(
            "{root}/asyncoperations({id})?$select=name,statecode,statuscode,message,operationtype"
        );
        let prefer = [(
            "Prefer",
            "odata.include-annotations=\"OData.Community.Display.V1.FormattedValue\"".to_owned(),
        )];
        let answer = self.send(Method::GET, &url, None, &prefer).await?;
        let job: Value = serde_json::from_slice(&answer.body).map_err(|e| Error::Decode {
            url: answer.path.clone(),
            message: e.to_string(),
        })?;
        let decode = |what: &str| Error::Decode {
            url: answer.path.clone(),
            message: format!("a system job without a valid {what}"),
        };
        let state = job["statecode"]
            .as_i64()
            .and_then(JobState::from_code)
            .ok_or_else(|| decode("statecode"))?;
        let status = job["statuscode"]
            .as_i64()
            .ok_or_else(|| decode("statuscode"))?;
        let mut out = SystemJob {
            id,
            name: job["name"].as_str().unwrap_or_default().to_owned(),
            state,
            status,
            status_label: job["statuscode@OData.Community.Display.V1.FormattedValue"]
                .as_str()
                .map(str::to_owned),
            message: job["message"].as_str().map(str::to_owned),
            deleted: None,
            failed: None,
        };
        if job["operationtype"].as_i64() == Some(13) {
            let url = format!(
                "{root}/bulkdeleteoperations?$select=successcount,failurecount&$filter=_asyncoperationid_value eq {id}"
            );
            let answer = self.send(Method::GET, &url, None, &[]).await?;
            let page: Value = serde_json::from_slice(&answer.body).map_err(|e| Error::Decode {
                url: answer.path.clone(),
                message: e.to_string(),
            })?;
            if let Some(row) = page["value"].get(0) {
                out.deleted = row["successcount"].as_u64();
                out.failed = row["failurecount"].as_u64();
            }
        }
        Ok(out)
    }

    /// Polls a system job until it ends (every 250 ms at first, backing off to 2 s), or fails
    /// with [`Error::Timeout`] after `timeout`. A job that failed or was canceled is answered,
    /// not an error: look at [`SystemJob::succeeded`].
    pub async fn wait_for_job(
        &self,
        id: uuid::Uuid,
        timeout: Duration,
    ) -> Result<SystemJob, Error> {
        self.wait_for_job_with(id, timeout, |_| {}).await
    }

    /// [`wait_for_job`](Self::wait_for_job), calling `each` with the job after every poll
    /// (progress: [`SystemJob::deleted`] grows as a bulk delete goes).
    pub async fn wait_for_job_with(
        &self,
        id: uuid::Uuid,
        timeout: Duration,
        mut each: impl FnMut(&SystemJob),
    ) -> Result<SystemJob, Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut pause = Duration::from_millis(250);
        loop {
            let job = self.system_job(id).await?;
            each(&job);
            if job.is_completed() {
                return Ok(job);
            }
            if tokio::time::Instant::now() + pause > deadline {
                return Err(Error::Timeout(timeout));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    /// Cancels a system job that has not ended (`statecode` 3, `statuscode` 32); a job deleting
    /// records stops after the chunk it is on. A job that has already ended is refused (its outcome stands).
    pub async fn cancel_job(&self, id: uuid::Uuid) -> Result<(), Error> {
        let job = self.system_job(id).await?;
        if job.is_completed() {
            return Err(Error::InvalidQuery(format!(
                "job {id} has already ended ({}); there is nothing to cancel",
                job.status_label.as_deref().unwrap_or("completed")
            )));
        }
        let url = format!("{}/asyncoperations({id})", self.api_root());
        let body = json!({"statecode": 3, "statuscode": 32});
        self.send(
            Method::PATCH,
            &url,
            Some(&body),
            &[("If-Match", "*".to_owned())],
        )
        .await
        .map(|_| ())
    }
}
