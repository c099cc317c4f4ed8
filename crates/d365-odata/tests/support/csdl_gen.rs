//! Generates a Dataverse-like CSDL document of `n` entity types (shared by
//! `tests/csdl.rs` and `benches/odata.rs`).

use std::fmt::Write as _;

/// A `$metadata` document with `n` entity types, each with ~60 realistic columns
/// (ids, names, money with scale, choices, dates, lookups), lookups to the previous
/// type, one-to-many partners, an alternate key and `crmbaseentity` inheritance.
#[allow(dead_code, unreachable_pub)]
pub fn generate_csdl(n: usize) -> String {
    let mut out = String::with_capacity(n * 12_000);
    out.push_str(r#"<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:DataServices>
    <Schema Namespace="Microsoft.Dynamics.CRM" Alias="mscrm" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EntityType Name="crmbaseentity" Abstract="true" />
"#);
    for i in 0..n {
        let name = format!("new_entity{i}");
        let prev = format!("new_entity{}", (i + n - 1) % n);
        let next = format!("new_entity{}", (i + 1) % n);
        let _ = writeln!(
            out,
            r#"      <EntityType Name="{name}" BaseType="mscrm.crmbaseentity">"#
        );
        let _ = writeln!(out, r#"        <Key><PropertyRef Name="{name}id" /></Key>"#);
        let _ = writeln!(
            out,
            r#"        <Property Name="{name}id" Type="Edm.Guid" />"#
        );
        let _ = writeln!(
            out,
            r#"        <Property Name="new_name" Type="Edm.String" Unicode="false" MaxLength="100" />"#
        );
        let _ = writeln!(
            out,
            r#"        <Property Name="new_code" Type="Edm.String" MaxLength="20" />"#
        );
        for c in 0..12 {
            let _ = writeln!(
                out,
                r#"        <Property Name="new_text{c}" Type="Edm.String" MaxLength="{}" />"#,
                100 + c * 50
            );
            let _ = writeln!(
                out,
                r#"        <Property Name="new_amount{c}" Type="Edm.Decimal" Scale="4" />"#
            );
            let _ = writeln!(
                out,
                r#"        <Property Name="new_count{c}" Type="Edm.Int32" />"#
            );
            let _ = writeln!(
                out,
                r#"        <Property Name="new_date{c}" Type="Edm.DateTimeOffset" />"#
            );
        }
        for col in ["statecode", "statuscode"] {
            let _ = writeln!(out, r#"        <Property Name="{col}" Type="Edm.Int32" />"#);
        }
        let _ = writeln!(
            out,
            r#"        <Property Name="new_flag" Type="Edm.Boolean" />"#
        );
        let _ = writeln!(
            out,
            r#"        <Property Name="new_ratio" Type="Edm.Double" />"#
        );
        let _ = writeln!(
            out,
            r#"        <Property Name="new_birthday" Type="Edm.Date" />"#
        );
        let _ = writeln!(
            out,
            r#"        <Property Name="versionnumber" Type="Edm.Int64" />"#
        );
        let _ = writeln!(
            out,
            r#"        <Property Name="new_image" Type="Edm.Binary" />"#
        );
        let _ = writeln!(
            out,
            r#"        <Property Name="createdon" Type="Edm.DateTimeOffset" Nullable="false"><Annotation Term="Org.OData.Core.V1.Computed" Bool="true" /></Property>"#
        );
        let _ = writeln!(
            out,
            r#"        <Property Name="_new_parentid_value" Type="Edm.Guid" />"#
        );
        let _ = writeln!(
            out,
            r#"        <NavigationProperty Name="new_parentid" Type="mscrm.{prev}" Partner="new_{prev}_children">
          <ReferentialConstraint Property="_new_parentid_value" ReferencedProperty="{prev}id" />
        </NavigationProperty>"#
        );
        let _ = writeln!(
            out,
            r#"        <NavigationProperty Name="new_{name}_children" Type="Collection(mscrm.{next})" Partner="new_parentid" />"#
        );
        let _ = writeln!(
            out,
            r#"        <Annotation Term="OData.Community.Keys.V1.AlternateKeys"><Collection><Record Type="OData.Community.Keys.V1.AlternateKey"><PropertyValue Property="Key"><Collection><Record Type="OData.Community.Keys.V1.PropertyRef"><PropertyValue Property="Alias" String="new_code" /><PropertyValue Property="Name" PropertyPath="new_code" /></Record></Collection></PropertyValue></Record></Collection></Annotation>"#
        );
        out.push_str("      </EntityType>\n");
    }
    out.push_str("      <EntityContainer Name=\"System\">\n");
    for i in 0..n {
        let _ = writeln!(
            out,
            r#"        <EntitySet Name="new_entity{i}s" EntityType="Microsoft.Dynamics.CRM.new_entity{i}" />"#
        );
    }
    out.push_str("      </EntityContainer>\n    </Schema>\n  </edmx:DataServices>\n</edmx:Edmx>\n");
    out
}
