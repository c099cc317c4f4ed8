//! Azure Storage as a resource of the tenant: the token endpoint issues tokens for it as it
//! does for the environment (`AppState::issues_tokens_for`); the Web API takes none of them.

/// Azure Storage's resource (ADLS Gen2, Blob, Queue): Entra issues tokens for it to any app of
/// the tenant (`https://storage.azure.com/.default`; access is the storage account's role
/// assignments' business), version 1.0 tokens from `sts.windows.net`, which Azurite's OAuth
/// mode checks.
pub const STORAGE_RESOURCE: &str = "https://storage.azure.com";

/// Azure Storage's application id, which names the same resource.
const STORAGE_APP_ID: &str = "e406a681-f3d4-42a8-90b6-c2b029497af1";

/// Whether `url` names Azure Storage: [`STORAGE_RESOURCE`], its application id, or one
/// account's service (`https://{account}.{blob|dfs|queue|file|table}.core.windows.net`, as
/// Learn's "Azure Storage resource ID" table and the SDKs' account audiences spell it).
pub(crate) fn is_storage_resource(url: &str) -> bool {
    let url = url.trim_end_matches('/');
    if url.eq_ignore_ascii_case(STORAGE_RESOURCE) || url.eq_ignore_ascii_case(STORAGE_APP_ID) {
        return true;
    }
    let Some(host) = url.strip_prefix("https://") else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    let Some((account, service)) = host.split_once('.') else {
        return false;
    };
    let account_name = (3..=24).contains(&account.len())
        && account
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let service = ["blob", "dfs", "queue", "file", "table"]
        .iter()
        .any(|s| service == format!("{s}.core.windows.net"));
    account_name && service
}

#[cfg(test)]
mod tests {
    use super::is_storage_resource;

    #[test]
    fn storage_is_the_service_its_app_id_or_one_accounts_endpoint() {
        for yes in [
            "https://storage.azure.com",
            "https://storage.azure.com/",
            "HTTPS://Storage.Azure.com",
            "e406a681-f3d4-42a8-90b6-c2b029497af1",
            "https://lakeacct01.blob.core.windows.net",
            "https://abc.dfs.core.windows.net/",
            "https://Abc.Queue.Core.Windows.Net",
            "https://abc.file.core.windows.net",
            "https://abc.table.core.windows.net",
        ] {
            assert!(is_storage_resource(yes), "{yes}");
        }
        for no in [
            "http://storage.azure.com",
            "https://storage.azure.com.evil.example",
            "https://abc.blob.core.windows.net.evil.example",
            "https://ab.blob.core.windows.net",
            "https://a-b-c.blob.core.windows.net",
            "https://abcdefghijklmnopqrstuvwxy.blob.core.windows.net",
            "https://abc.web.core.windows.net",
            "https://abc.blob.core.chinacloudapi.cn",
            "https://unknown.example",
            "",
        ] {
            assert!(!is_storage_resource(no), "{no}");
        }
    }
}
