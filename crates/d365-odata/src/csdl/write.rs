//! Writing a [`Model`] as CSDL `$metadata` XML that [`read_csdl`](super::read_csdl) reads back equal.

use std::fmt::Write as _;

use super::escape::esc;
use super::operations::{Services, write_declarations, write_imports};
use super::{ALTERNATE_KEYS, COMPUTED, LOOKUP_TARGETS, NAMESPACE, OPTIONS, PRIMARY_NAME};
use crate::model::{Model, NavigationProperty, Property};

/// Writes `model` as a CSDL document in Dataverse's shape (one `Microsoft.Dynamics.CRM`
/// schema, alias `mscrm`, container `System`), which [`read_csdl`] reads back to an
/// equal model. Navigation properties get a `ReferentialConstraint` when single-valued;
/// a collection-valued one relies on its partner's, as in Dataverse, and keeps its own
/// foreign key in a toolkit annotation only when there is no partner to recover it from.
pub fn write_csdl(model: &Model) -> String {
    write_csdl_with(model, &Services::default())
}

/// [`write_csdl`] plus the service's complex types, functions and actions (and the
/// `FunctionImport`/`ActionImport` of the unbound ones), as Dataverse's `$metadata` declares
/// them. The reader ignores these.
pub fn write_csdl_with(model: &Model, services: &Services) -> String {
    let mut out = String::with_capacity(model.entity_types().len() * 4096);
    out.push_str(r#"<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:DataServices>
    <Schema Namespace="Microsoft.Dynamics.CRM" Alias="mscrm" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EntityType Name="crmbaseentity" Abstract="true" />
"#);
    for e in model.entity_types() {
        let _ = writeln!(
            out,
            r#"      <EntityType Name="{}" BaseType="mscrm.crmbaseentity">"#,
            esc(&e.name)
        );
        let _ = writeln!(
            out,
            r#"        <Key><PropertyRef Name="{}" /></Key>"#,
            esc(&e.key)
        );
        if let Some(primary) = &e.primary_name {
            let _ = writeln!(
                out,
                r#"        <Annotation Term="{PRIMARY_NAME}" String="{}" />"#,
                esc(primary)
            );
        }
        for p in &e.properties {
            write_property(&mut out, p);
        }
        for n in &e.navigation {
            let ty = if n.collection {
                format!("Collection(mscrm.{})", esc(&n.target))
            } else {
                format!("mscrm.{}", esc(&n.target))
            };
            let partner = n
                .partner
                .as_ref()
                .map(|p| format!(r#" Partner="{}""#, esc(p)))
                .unwrap_or_default();
            let _ = write!(
                out,
                r#"        <NavigationProperty Name="{}" Type="{ty}"{partner}"#,
                esc(&n.name)
            );
            if n.foreign_key.is_empty() || (n.collection && partner_has_fk(model, n)) {
                out.push_str(" />\n");
            } else {
                let referenced = model.entity_type(&n.target).map_or("", |t| t.key.as_str());
                let _ = writeln!(
                    out,
                    r#">
          <ReferentialConstraint Property="{}" ReferencedProperty="{}" />
        </NavigationProperty>"#,
                    esc(&n.foreign_key),
                    esc(referenced)
                );
            }
        }
        if !e.alternate_keys.is_empty() {
            let _ = writeln!(out, r#"        <Annotation Term="{ALTERNATE_KEYS}">"#);
            out.push_str("          <Collection>\n");
            for key in &e.alternate_keys {
                out.push_str("            <Record Type=\"OData.Community.Keys.V1.AlternateKey\">\n              <PropertyValue Property=\"Key\">\n                <Collection>\n");
                for name in key {
                    let _ = writeln!(
                        out,
                        r#"                  <Record Type="OData.Community.Keys.V1.PropertyRef"><PropertyValue Property="Alias" String="{0}" /><PropertyValue Property="Name" PropertyPath="{0}" /></Record>"#,
                        esc(name)
                    );
                }
                out.push_str("                </Collection>\n              </PropertyValue>\n            </Record>\n");
            }
            out.push_str("          </Collection>\n        </Annotation>\n");
        }
        out.push_str("      </EntityType>\n");
    }
    write_declarations(&mut out, services);
    out.push_str("      <EntityContainer Name=\"System\">\n");
    for e in model.entity_types() {
        if !e.entity_set.is_empty() {
            let _ = writeln!(
                out,
                r#"        <EntitySet Name="{}" EntityType="{NAMESPACE}.{}" />"#,
                esc(&e.entity_set),
                esc(&e.name)
            );
        }
    }
    write_imports(&mut out, services);
    out.push_str("      </EntityContainer>\n    </Schema>\n  </edmx:DataServices>\n</edmx:Edmx>\n");
    out
}

/// Whether a collection navigation's foreign key can be recovered from its partner.
fn partner_has_fk(model: &Model, n: &NavigationProperty) -> bool {
    let Some(partner) = &n.partner else {
        return false;
    };
    model
        .entity_type(&n.target)
        .and_then(|t| t.navigation(partner))
        .is_some_and(|p| !p.collection && p.foreign_key == n.foreign_key)
}

fn write_property(out: &mut String, p: &Property) {
    let _ = write!(
        out,
        r#"        <Property Name="{}" Type="{}""#,
        esc(&p.name),
        p.edm_type.name()
    );
    if !p.nullable {
        out.push_str(r#" Nullable="false""#);
    }
    if let Some(n) = p.max_length {
        let _ = write!(out, r#" MaxLength="{n}""#);
    }
    if let Some(s) = p.scale {
        let _ = write!(out, r#" Scale="{s}""#);
    }
    let annotated = p.read_only || p.option_set.is_some() || !p.lookup_targets.is_empty();
    if !annotated {
        out.push_str(" />\n");
        return;
    }
    out.push_str(">\n");
    if p.read_only {
        let _ = writeln!(
            out,
            r#"          <Annotation Term="{COMPUTED}" Bool="true" />"#
        );
    }
    if !p.lookup_targets.is_empty() {
        let _ = writeln!(
            out,
            r#"          <Annotation Term="{LOOKUP_TARGETS}" String="{}" />"#,
            esc(&p.lookup_targets.join(","))
        );
    }
    if let Some(set) = &p.option_set {
        let _ = writeln!(out, r#"          <Annotation Term="{OPTIONS}">"#);
        out.push_str("            <Collection>\n");
        for (value, label) in &set.options {
            let _ = writeln!(
                out,
                r#"              <Record><PropertyValue Property="Value" Int="{value}" /><PropertyValue Property="Label" String="{}" /></Record>"#,
                esc(label)
            );
        }
        out.push_str("            </Collection>\n          </Annotation>\n");
    }
    out.push_str("        </Property>\n");
}
