//! The directory: tenants, app registrations and users, looked up the way Entra does
//! (tenant by GUID or verified domain, case-insensitively; UPNs case-insensitively).

use crate::config::{AppConfig, EmulatorConfig, TenantConfig, UserConfig};

/// What the `{tenant}` path segment named.
#[derive(Debug, Clone, Copy)]
pub enum TenantRef<'a> {
    /// A real tenant.
    Tenant(&'a TenantConfig),
    /// `organizations`: any work or school tenant.
    Organizations,
    /// `common`: work, school or personal accounts.
    Common,
    /// `consumers`: personal accounts only.
    Consumers,
}

impl TenantRef<'_> {
    /// The alias text, for error messages.
    pub fn alias(&self) -> Option<&'static str> {
        match self {
            TenantRef::Tenant(_) => None,
            TenantRef::Organizations => Some("organizations"),
            TenantRef::Common => Some("common"),
            TenantRef::Consumers => Some("consumers"),
        }
    }
}

/// Read-only lookups over the configured directory.
#[derive(Debug)]
pub struct Registry {
    config: EmulatorConfig,
}

impl Registry {
    /// A registry over `config`.
    pub fn new(config: EmulatorConfig) -> Self {
        Self { config }
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &EmulatorConfig {
        &self.config
    }

    /// Resolves a `{tenant}` path segment, or Entra's error for an unknown tenant.
    pub(crate) fn require_tenant(
        &self,
        segment: &str,
    ) -> Result<TenantRef<'_>, crate::error::EntraError> {
        self.resolve_tenant(segment)
            .ok_or_else(|| crate::error::EntraError::tenant_not_found(segment))
    }

    /// Resolves a `{tenant}` path segment.
    pub fn resolve_tenant(&self, segment: &str) -> Option<TenantRef<'_>> {
        match segment.to_ascii_lowercase().as_str() {
            "organizations" => return Some(TenantRef::Organizations),
            "common" => return Some(TenantRef::Common),
            "consumers" | "9188040d-6c67-4c5b-b112-36a304b66dad" => {
                return Some(TenantRef::Consumers);
            }
            _ => {}
        }
        self.config
            .tenants
            .iter()
            .find(|t| {
                t.id.eq_ignore_ascii_case(segment)
                    || t.domains.iter().any(|d| d.eq_ignore_ascii_case(segment))
            })
            .map(TenantRef::Tenant)
    }

    /// A tenant by id.
    pub fn tenant(&self, id: &str) -> Option<&TenantConfig> {
        self.config
            .tenants
            .iter()
            .find(|t| t.id.eq_ignore_ascii_case(id))
    }

    /// An app registration by client id, visible from the given tenant reference. Apps are
    /// single-tenant here: usable from their home tenant or through an alias.
    pub fn app(&self, client_id: &str, tenant: TenantRef<'_>) -> Option<&AppConfig> {
        self.config.apps.iter().find(|a| {
            a.client_id.eq_ignore_ascii_case(client_id)
                && match tenant {
                    TenantRef::Tenant(t) => a.tenant.eq_ignore_ascii_case(&t.id),
                    _ => true,
                }
        })
    }

    /// An app by client id, anywhere.
    pub fn app_by_id(&self, client_id: &str) -> Option<&AppConfig> {
        self.config
            .apps
            .iter()
            .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }

    /// A user by UPN within a tenant reference.
    pub fn user_by_upn(&self, upn: &str, tenant: TenantRef<'_>) -> Option<&UserConfig> {
        self.config.users.iter().find(|u| {
            u.upn.eq_ignore_ascii_case(upn)
                && match tenant {
                    TenantRef::Tenant(t) => u.tenant.eq_ignore_ascii_case(&t.id),
                    _ => true,
                }
        })
    }

    /// A user by object id.
    pub fn user_by_oid(&self, oid: &str) -> Option<&UserConfig> {
        self.config
            .users
            .iter()
            .find(|u| u.object_id.eq_ignore_ascii_case(oid))
    }
}
