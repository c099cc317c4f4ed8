//! A QueryExpression (JSON) as the first query of `POST BulkDelete`'s `QuerySet`. A second
//! query names no table, so a valid first one is read and planned but no job is created.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut body = br#"{"QuerySet":["#.to_vec();
    body.extend_from_slice(data);
    body.extend_from_slice(
        br#",{"EntityName":"fuzz_no_such_table"}],"JobName":"fuzz","SendEmailNotification":false,"ToRecipients":[],"CCRecipients":[],"RecurrencePattern":"","StartDateTime":"2099-01-01T00:00:00Z"}"#,
    );
    d365_emulator_fuzz::post("BulkDelete", "application/json", body);
});
