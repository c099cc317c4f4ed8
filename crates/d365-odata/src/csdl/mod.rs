//! CSDL XML (`$metadata`) read and write for the [`Model`]
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/web-api-service-documents>,
//! OData CSDL XML 4.01; PROTOCOL.md B15).
//!
//! Reading is streaming (quick-xml events, no DOM), so a real 10–30 MB Dataverse document
//! is read in one pass with memory proportional to the model, not the text. What is read:
//! entity types with their key, properties (Edm type, `Nullable`, `MaxLength`, `Scale`),
//! navigation properties (target, collection-ness, `Partner`, `ReferentialConstraint`),
//! entity set names from the `EntityContainer`, `BaseType` inheritance (flattened: a
//! type gets its bases' key and properties, e.g. from `crmbaseentity` or
//! `activitypointer`), alternate keys from `OData.Community.Keys.V1.AlternateKeys`,
//! `Org.OData.Core.V1.Computed` (read-only), and the toolkit's own annotations written by
//! [`write_csdl`] (primary name, choices, lookup targets) so that a written model reads
//! back equal. Abstract types and properties of types the model has no [`EdmType`] for
//! (`Edm.Binary`, complex and enum types, ...) are left out.

use std::collections::HashMap;
use std::io::BufRead;

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};

mod escape;
mod operations;
mod write;

pub use operations::{ComplexType, Operation, Parameter, Services};
pub use write::{write_csdl, write_csdl_with};

use crate::model::{EdmType, EntityType, Model, NavigationProperty, OptionSet, Property};

/// The namespace of the toolkit's own annotations.
pub const TOOLKIT_NAMESPACE: &str = "D365.Toolkit.V1";
const PRIMARY_NAME: &str = "D365.Toolkit.V1.PrimaryName";
const OPTIONS: &str = "D365.Toolkit.V1.Options";
const LOOKUP_TARGETS: &str = "D365.Toolkit.V1.LookupTargets";
const COMPUTED: &str = "Org.OData.Core.V1.Computed";
const ALTERNATE_KEYS: &str = "OData.Community.Keys.V1.AlternateKeys";
const NAMESPACE: &str = "Microsoft.Dynamics.CRM";

/// Why a CSDL document could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsdlError {
    /// Not well-formed XML.
    #[error("invalid XML at byte {position}: {message}")]
    Xml {
        /// Byte offset in the document.
        position: u64,
        /// What the XML reader said.
        message: String,
    },
    /// Well-formed XML that is not a usable CSDL document.
    #[error("invalid CSDL: {0}")]
    Invalid(String),
}

/// An entity type as declared, before inheritance is flattened.
#[derive(Debug, Default)]
struct RawType {
    name: String,
    base: Option<String>,
    is_abstract: bool,
    key: Vec<String>,
    primary_name: Option<String>,
    properties: Vec<Property>,
    navigation: Vec<NavigationProperty>,
    alternate_keys: Vec<Vec<String>>,
}

/// Where the reader is inside an entity type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inside {
    Nothing,
    Key,
    /// The last property pushed; `true` if it is kept (a supported type).
    Property(bool),
    Navigation,
    Options,
    AlternateKeys,
}

/// Reads a CSDL document from text. See the module docs for what is read.
pub fn read_csdl(text: &str) -> Result<Model, CsdlError> {
    read_csdl_from(text.as_bytes())
}

/// Reads a CSDL document from a buffered reader (e.g. a `BufReader<File>`), streaming.
pub fn read_csdl_from(source: impl BufRead) -> Result<Model, CsdlError> {
    let mut reader = quick_xml::Reader::from_reader(source);
    reader.config_mut().trim_text(true);
    let mut buf = Vec::new();
    let mut types: Vec<RawType> = Vec::new();
    let mut sets: HashMap<String, String> = HashMap::new();
    let mut aliases: Vec<(String, String)> = Vec::new();
    let mut current: Option<RawType> = None;
    let mut inside = Inside::Nothing;
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| CsdlError::Xml {
                position: reader.error_position(),
                message: e.to_string(),
            })?;
        let (element, empty) = match &event {
            Event::Start(e) => (Some(e), false),
            Event::Empty(e) => (Some(e), true),
            Event::End(e) => {
                let local = e.local_name();
                let local: &str = local.as_ref();
                match local {
                    "EntityType" => {
                        if let Some(t) = current.take() {
                            types.push(t);
                        }
                        inside = Inside::Nothing;
                    }
                    "Key" | "NavigationProperty" => inside = Inside::Nothing,
                    "Property" if matches!(inside, Inside::Property(_)) => inside = Inside::Nothing,
                    "Annotation" if matches!(inside, Inside::Options | Inside::AlternateKeys) => {
                        inside = if inside == Inside::Options {
                            Inside::Property(true)
                        } else {
                            Inside::Nothing
                        };
                    }
                    _ => {}
                }
                (None, false)
            }
            Event::Eof => break,
            _ => (None, false),
        };
        let Some(e) = element else {
            buf.clear();
            continue;
        };
        let attrs = attributes(e)?;
        let get = |name: &str| {
            attrs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let local = e.local_name();
        let local: &str = local.as_ref();
        match (local, current.as_mut()) {
            ("Schema", _) => {
                if let (Some(ns), Some(alias)) = (get("Namespace"), get("Alias")) {
                    aliases.push((alias.to_owned(), ns.to_owned()));
                }
            }
            ("EntityType", _) => {
                let t = RawType {
                    name: get("Name").unwrap_or_default().to_owned(),
                    base: get("BaseType").map(str::to_owned),
                    is_abstract: get("Abstract") == Some("true"),
                    ..RawType::default()
                };
                if empty {
                    types.push(t);
                } else {
                    current = Some(t);
                }
            }
            ("Key", Some(_)) => inside = Inside::Key,
            ("PropertyRef", Some(t)) if inside == Inside::Key => {
                t.key.extend(get("Name").map(str::to_owned));
            }
            ("Property", Some(t)) => {
                let kept = match get("Type").and_then(edm_type) {
                    Some(edm) => {
                        let mut p = Property::new(get("Name").unwrap_or_default(), edm);
                        p.nullable = get("Nullable") != Some("false");
                        p.max_length = get("MaxLength").and_then(|v| v.parse().ok());
                        p.scale = get("Scale").and_then(|v| v.parse().ok());
                        t.properties.push(p);
                        true
                    }
                    None => false,
                };
                if !empty {
                    inside = Inside::Property(kept);
                }
            }
            ("NavigationProperty", Some(t)) => {
                let ty = get("Type").unwrap_or_default();
                let (collection, target) = match ty
                    .strip_prefix("Collection(")
                    .and_then(|s| s.strip_suffix(')'))
                {
                    Some(inner) => (true, inner),
                    None => (false, ty),
                };
                t.navigation.push(NavigationProperty {
                    name: get("Name").unwrap_or_default().to_owned(),
                    target: short_name(target).to_owned(),
                    collection,
                    partner: get("Partner").map(str::to_owned),
                    foreign_key: String::new(),
                });
                if !empty {
                    inside = Inside::Navigation;
                }
            }
            ("ReferentialConstraint", Some(t)) if inside == Inside::Navigation => {
                if let (Some(nav), Some(p)) = (t.navigation.last_mut(), get("Property")) {
                    p.clone_into(&mut nav.foreign_key);
                }
            }
            ("Annotation", Some(t)) => {
                let term = get("Term").unwrap_or_default();
                match (term, inside) {
                    (PRIMARY_NAME, Inside::Nothing) => {
                        t.primary_name = get("String").map(str::to_owned)
                    }
                    (ALTERNATE_KEYS, Inside::Nothing) if !empty => inside = Inside::AlternateKeys,
                    (COMPUTED, Inside::Property(true)) => {
                        if let Some(p) = t.properties.last_mut() {
                            p.read_only = get("Bool") != Some("false");
                        }
                    }
                    (LOOKUP_TARGETS, Inside::Property(true)) => {
                        if let Some(p) = t.properties.last_mut() {
                            p.lookup_targets = get("String")
                                .unwrap_or_default()
                                .split(',')
                                .filter(|s| !s.is_empty())
                                .map(str::to_owned)
                                .collect();
                        }
                    }
                    (OPTIONS, Inside::Property(true)) => {
                        if let Some(p) = t.properties.last_mut() {
                            p.option_set = Some(OptionSet::default());
                        }
                        if !empty {
                            inside = Inside::Options;
                        }
                    }
                    _ => {}
                }
            }
            ("Record", Some(t)) => match inside {
                Inside::Options => {
                    if let Some(set) = t.properties.last_mut().and_then(|p| p.option_set.as_mut()) {
                        set.options.push((0, String::new()));
                    }
                }
                Inside::AlternateKeys
                    if get("Type").is_some_and(|ty| ty.ends_with("AlternateKey")) =>
                {
                    t.alternate_keys.push(Vec::new());
                }
                _ => {}
            },
            ("PropertyValue", Some(t)) => match (inside, get("Property")) {
                (Inside::Options, Some("Value")) => {
                    let option = t
                        .properties
                        .last_mut()
                        .and_then(|p| p.option_set.as_mut())
                        .and_then(|s| s.options.last_mut());
                    if let (Some(option), Some(v)) =
                        (option, get("Int").and_then(|v| v.parse().ok()))
                    {
                        option.0 = v;
                    }
                }
                (Inside::Options, Some("Label")) => {
                    let option = t
                        .properties
                        .last_mut()
                        .and_then(|p| p.option_set.as_mut())
                        .and_then(|s| s.options.last_mut());
                    if let (Some(option), Some(label)) = (option, get("String")) {
                        label.clone_into(&mut option.1);
                    }
                }
                (Inside::AlternateKeys, Some("Name")) => {
                    if let (Some(key), Some(path)) =
                        (t.alternate_keys.last_mut(), get("PropertyPath"))
                    {
                        key.push(path.to_owned());
                    }
                }
                _ => {}
            },
            ("EntitySet", _) => {
                if let (Some(name), Some(ty)) = (get("Name"), get("EntityType")) {
                    sets.insert(short_name(ty).to_owned(), name.to_owned());
                }
            }
            _ => {}
        }
        buf.clear();
    }
    let _ = aliases; // qualified names are shortened by their last segment (one schema)
    flatten(types, &sets)
}

/// `mscrm.account` or `Microsoft.Dynamics.CRM.account` → `account`.
fn short_name(qualified: &str) -> &str {
    qualified.rsplit('.').next().unwrap_or(qualified)
}

fn edm_type(name: &str) -> Option<EdmType> {
    Some(match name {
        "Edm.Guid" => EdmType::Guid,
        "Edm.String" => EdmType::String,
        "Edm.Boolean" => EdmType::Boolean,
        "Edm.Int32" => EdmType::Int32,
        "Edm.Int64" => EdmType::Int64,
        "Edm.Decimal" => EdmType::Decimal,
        "Edm.Double" => EdmType::Double,
        "Edm.DateTimeOffset" => EdmType::DateTimeOffset,
        "Edm.Date" => EdmType::Date,
        _ => return None,
    })
}

fn attributes(e: &BytesStart<'_>) -> Result<Vec<(String, String)>, CsdlError> {
    let invalid = |m: String| CsdlError::Invalid(m);
    e.attributes()
        .map(|a| {
            let a = a.map_err(|err| invalid(err.to_string()))?;
            let key = AsRef::<str>::as_ref(&a.key.local_name()).to_owned();
            let value = a
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|err| invalid(err.to_string()))?
                .into_owned();
            Ok((key, value))
        })
        .collect()
}

/// Applies `BaseType` inheritance, fills collection navigations' foreign keys from their
/// partners, and keeps the non-abstract types that have a key.
/// The longest chain of base types read.
const MAX_INHERITANCE: usize = 32;

fn flatten(types: Vec<RawType>, sets: &HashMap<String, String>) -> Result<Model, CsdlError> {
    let index: HashMap<String, usize> = types
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.clone(), i))
        .collect();
    let chain = |start: usize| -> Result<Vec<usize>, CsdlError> {
        let mut chain = vec![start];
        let mut at = start;
        while let Some(base) = &types[at].base {
            let Some(&next) = index.get(short_name(base)) else {
                break;
            };
            if chain.contains(&next) {
                return Err(CsdlError::Invalid(format!(
                    "inheritance cycle at '{}'",
                    types[next].name
                )));
            }
            // Dataverse's types derive from crmbaseentity, one level; a document from the
            // network must not make each type walk (and search) thousands.
            if chain.len() >= MAX_INHERITANCE {
                return Err(CsdlError::Invalid(format!(
                    "'{}' derives through more than {MAX_INHERITANCE} base types",
                    types[start].name
                )));
            }
            chain.push(next);
            at = next;
        }
        chain.reverse(); // base first
        Ok(chain)
    };
    let mut out = Vec::new();
    for (i, t) in types.iter().enumerate() {
        if t.is_abstract {
            continue;
        }
        let mut entity = EntityType {
            name: t.name.clone(),
            entity_set: sets.get(&t.name).cloned().unwrap_or_default(),
            key: String::new(),
            primary_name: None,
            properties: Vec::new(),
            navigation: Vec::new(),
            alternate_keys: Vec::new(),
        };
        for &j in &chain(i)? {
            let part = &types[j];
            if let Some(k) = part.key.first() {
                k.clone_into(&mut entity.key);
            }
            if part.primary_name.is_some() {
                entity.primary_name.clone_from(&part.primary_name);
            }
            entity.properties.extend(part.properties.iter().cloned());
            entity.navigation.extend(part.navigation.iter().cloned());
            entity
                .alternate_keys
                .extend(part.alternate_keys.iter().cloned());
        }
        if entity.key.is_empty() {
            continue;
        }
        out.push(entity);
    }
    // A collection-valued navigation's foreign key is its partner's referential constraint.
    let fks: HashMap<(String, String), String> = out
        .iter()
        .flat_map(|e| {
            e.navigation
                .iter()
                .filter(|n| !n.collection && !n.foreign_key.is_empty())
                .map(|n| ((e.name.clone(), n.name.clone()), n.foreign_key.clone()))
        })
        .collect();
    for e in &mut out {
        for n in &mut e.navigation {
            if n.collection
                && n.foreign_key.is_empty()
                && let Some(partner) = &n.partner
                && let Some(fk) = fks.get(&(n.target.clone(), partner.clone()))
            {
                fk.clone_into(&mut n.foreign_key);
            }
        }
    }
    Ok(Model::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The PROTOCOL.md B15.1 skeleton, plus a contact and task, inheritance and alternate keys.
    const SAMPLE: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:DataServices>
    <Schema Namespace="Microsoft.Dynamics.CRM" Alias="mscrm" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EntityType Name="crmbaseentity" Abstract="true" />
      <EntityType Name="activitypointer" BaseType="mscrm.crmbaseentity">
        <Key><PropertyRef Name="activityid" /></Key>
        <Property Name="activityid" Type="Edm.Guid" />
        <Property Name="subject" Type="Edm.String" MaxLength="400" />
      </EntityType>
      <EntityType Name="task" BaseType="mscrm.activitypointer">
        <Property Name="_regardingobjectid_value" Type="Edm.Guid" />
        <Property Name="entityimage" Type="Edm.Binary" />
        <NavigationProperty Name="regardingobjectid_account_task" Type="mscrm.account" Partner="Account_Tasks">
          <ReferentialConstraint Property="_regardingobjectid_value" ReferencedProperty="accountid" />
        </NavigationProperty>
      </EntityType>
      <EntityType Name="account" BaseType="mscrm.crmbaseentity">
        <Key><PropertyRef Name="accountid" /></Key>
        <Property Name="accountid" Type="Edm.Guid" />
        <Property Name="name" Type="Edm.String" Unicode="false" MaxLength="160" />
        <Property Name="accountnumber" Type="Edm.String" MaxLength="20" />
        <Property Name="revenue" Type="Edm.Decimal" Scale="Variable" />
        <Property Name="createdon" Type="Edm.DateTimeOffset" Nullable="false">
          <Annotation Term="Org.OData.Core.V1.Computed" Bool="true" />
        </Property>
        <Property Name="_primarycontactid_value" Type="Edm.Guid" />
        <NavigationProperty Name="primarycontactid" Type="mscrm.contact" Nullable="false" Partner="account_primary_contact">
          <ReferentialConstraint Property="_primarycontactid_value" ReferencedProperty="contactid" />
        </NavigationProperty>
        <NavigationProperty Name="Account_Tasks" Type="Collection(mscrm.task)" Partner="regardingobjectid_account_task" />
        <Annotation Term="OData.Community.Keys.V1.AlternateKeys">
          <Collection>
            <Record Type="OData.Community.Keys.V1.AlternateKey">
              <PropertyValue Property="Key">
                <Collection>
                  <Record Type="OData.Community.Keys.V1.PropertyRef">
                    <PropertyValue Property="Alias" String="accountnumber" />
                    <PropertyValue Property="Name" PropertyPath="accountnumber" />
                  </Record>
                </Collection>
              </PropertyValue>
            </Record>
          </Collection>
        </Annotation>
      </EntityType>
      <EntityType Name="contact" BaseType="mscrm.crmbaseentity">
        <Key><PropertyRef Name="contactid" /></Key>
        <Property Name="contactid" Type="Edm.Guid" />
      </EntityType>
      <EntityContainer Name="System">
        <EntitySet Name="accounts" EntityType="Microsoft.Dynamics.CRM.account" />
        <EntitySet Name="contacts" EntityType="Microsoft.Dynamics.CRM.contact" />
        <EntitySet Name="tasks" EntityType="Microsoft.Dynamics.CRM.task" />
      </EntityContainer>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>"#;

    #[test]
    fn reads_the_dataverse_shape() {
        let model = read_csdl(SAMPLE).unwrap();
        let account = model.by_entity_set("accounts").unwrap();
        assert_eq!(account.key, "accountid");
        assert_eq!(account.property("name").unwrap().max_length, Some(160));
        assert_eq!(account.property("revenue").unwrap().scale, None);
        let created = account.property("createdon").unwrap();
        assert!(created.read_only && !created.nullable);
        assert_eq!(
            account.alternate_keys,
            vec![vec!["accountnumber".to_owned()]]
        );
        let contact = account.navigation("primarycontactid").unwrap();
        assert_eq!(
            (contact.collection, contact.foreign_key.as_str()),
            (false, "_primarycontactid_value")
        );
        let tasks = account.navigation("Account_Tasks").unwrap();
        assert!(tasks.collection);
        assert_eq!(tasks.target, "task");
        assert_eq!(tasks.foreign_key, "_regardingobjectid_value");
        // Inheritance: task gets activitypointer's key and columns; Edm.Binary is left out.
        let task = model.entity_type("task").unwrap();
        assert_eq!(task.key, "activityid");
        assert!(task.property("subject").is_some() && task.property("entityimage").is_none());
        assert!(model.entity_type("crmbaseentity").is_none());
    }

    #[test]
    fn round_trips() {
        let mut model = read_csdl(SAMPLE).unwrap();
        let mut types: Vec<EntityType> =
            model.entity_types().iter().map(|t| (**t).clone()).collect();
        types[0].primary_name = Some("subject".into());
        types[0].properties.push(
            Property::new("prioritycode", EdmType::Int32)
                .options(&[(0, "Low & \"slow\""), (1, "Line\nbreak")])
                .required(),
        );
        types[0]
            .properties
            .push(Property::new("_ownerid_value", EdmType::Guid).lookup(&["systemuser", "team"]));
        model = Model::new(types);
        let text = write_csdl(&model);
        let back = read_csdl(&text).unwrap();
        assert_eq!(back.entity_types(), model.entity_types());
        assert_eq!(write_csdl(&back), text);
    }

    #[test]
    fn rejects_broken_xml() {
        assert!(matches!(
            read_csdl("<a><b></a>"),
            Err(CsdlError::Xml { .. })
        ));
    }

    #[test]
    fn inheritance_chains_have_a_budget() {
        let mut xml = String::from(
            r#"<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices><Schema Namespace="ns" xmlns="http://docs.oasis-open.org/odata/ns/edm"><EntityType Name="t0"><Key><PropertyRef Name="id" /></Key><Property Name="id" Type="Edm.Guid" /></EntityType>"#,
        );
        for i in 1..=40 {
            xml.push_str(&format!(
                r#"<EntityType Name="t{i}" BaseType="ns.t{}" />"#,
                i - 1
            ));
        }
        xml.push_str("</Schema></edmx:DataServices></edmx:Edmx>");
        let e = read_csdl(&xml).unwrap_err();
        assert!(e.to_string().contains("more than 32 base types"), "{e}");
    }
}
