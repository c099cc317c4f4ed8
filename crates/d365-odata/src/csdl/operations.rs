//! The service's functions, actions and the complex types they take and return, as CSDL
//! declares them next to the entity types
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/web-api-functions-actions-sample>,
//! OData CSDL XML 4.01 §12–13): code generators and typed clients read `WhoAmI` and friends
//! from `$metadata`.

use std::fmt::Write as _;

use super::NAMESPACE;
use super::escape::esc;

/// A structured type without a key (`WhoAmIResponse`, `QueryExpression`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplexType {
    /// Its name in `Microsoft.Dynamics.CRM`.
    pub name: String,
    /// Its properties: name and type (`Edm.Guid`, `mscrm.ColumnSet`, `Collection(Edm.String)`).
    pub properties: Vec<(String, String)>,
}

/// A parameter of a function or action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    /// Its name (`EntityNames`); a bound operation's first parameter is the binding one.
    pub name: String,
    /// Its type, as in CSDL (`Collection(Edm.String)`, `mscrm.lead`).
    pub type_name: String,
    /// Whether the caller may leave it out.
    pub optional: bool,
}

/// A function (GET, no side effects) or an action (POST).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// Its name (`WhoAmI`).
    pub name: String,
    /// An action rather than a function.
    pub is_action: bool,
    /// Bound: its first parameter is the entity (or collection) it is called on.
    pub is_bound: bool,
    /// The parameters, the binding one first when bound.
    pub parameters: Vec<Parameter>,
    /// What it returns, if anything.
    pub return_type: Option<String>,
}

/// Everything besides the entity types that a `$metadata` document declares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Services {
    /// Complex types.
    pub complex_types: Vec<ComplexType>,
    /// Functions and actions; unbound ones also get a `FunctionImport`/`ActionImport`.
    pub operations: Vec<Operation>,
}

impl ComplexType {
    /// A complex type from `(name, type)` pairs.
    pub fn new(name: &str, properties: &[(&str, &str)]) -> Self {
        Self {
            name: name.to_owned(),
            properties: properties
                .iter()
                .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
                .collect(),
        }
    }
}

impl Parameter {
    /// A required parameter.
    pub fn new(name: &str, type_name: &str) -> Self {
        Self {
            name: name.to_owned(),
            type_name: type_name.to_owned(),
            optional: false,
        }
    }

    /// An optional one.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
}

impl Operation {
    fn new(name: &str, is_action: bool, parameters: Vec<Parameter>) -> Self {
        Self {
            name: name.to_owned(),
            is_action,
            is_bound: false,
            parameters,
            return_type: None,
        }
    }

    /// A function.
    pub fn function(name: &str, parameters: Vec<Parameter>) -> Self {
        Self::new(name, false, parameters)
    }

    /// An action.
    pub fn action(name: &str, parameters: Vec<Parameter>) -> Self {
        Self::new(name, true, parameters)
    }

    /// Bound to `binding` (`mscrm.lead`, `Collection(mscrm.crmbaseentity)`): the parameter
    /// `entity` first, as Dataverse names it.
    pub fn bound(mut self, binding: &str) -> Self {
        self.is_bound = true;
        self.parameters.insert(0, Parameter::new("entity", binding));
        self
    }

    /// Returning `type_name`.
    pub fn returns(mut self, type_name: &str) -> Self {
        self.return_type = Some(type_name.to_owned());
        self
    }
}

/// Writes the complex types and operations (inside the schema, after the entity types).
pub(super) fn write_declarations(out: &mut String, services: &Services) {
    for c in &services.complex_types {
        let _ = writeln!(out, r#"      <ComplexType Name="{}">"#, esc(&c.name));
        for (name, ty) in &c.properties {
            let _ = writeln!(
                out,
                r#"        <Property Name="{}" Type="{}" />"#,
                esc(name),
                esc(ty)
            );
        }
        out.push_str("      </ComplexType>\n");
    }
    for o in &services.operations {
        let element = if o.is_action { "Action" } else { "Function" };
        let bound = if o.is_bound { r#" IsBound="true""# } else { "" };
        let _ = writeln!(out, r#"      <{element} Name="{}"{bound}>"#, esc(&o.name));
        for p in &o.parameters {
            let nullable = if p.optional {
                ""
            } else {
                r#" Nullable="false""#
            };
            let _ = writeln!(
                out,
                r#"        <Parameter Name="{}" Type="{}"{nullable} />"#,
                esc(&p.name),
                esc(&p.type_name)
            );
        }
        if let Some(r) = &o.return_type {
            let _ = writeln!(
                out,
                r#"        <ReturnType Type="{}" Nullable="false" />"#,
                esc(r)
            );
        }
        let _ = writeln!(out, "      </{element}>");
    }
}

/// Writes the `FunctionImport`s and `ActionImport`s of the unbound operations (inside the
/// entity container).
pub(super) fn write_imports(out: &mut String, services: &Services) {
    for o in services.operations.iter().filter(|o| !o.is_bound) {
        let (element, attribute) = if o.is_action {
            ("ActionImport", "Action")
        } else {
            ("FunctionImport", "Function")
        };
        let _ = writeln!(
            out,
            r#"        <{element} Name="{0}" {attribute}="{NAMESPACE}.{0}" />"#,
            esc(&o.name)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csdl::{read_csdl, write_csdl_with};
    use crate::model::{EdmType, EntityType, Model, Property};

    #[test]
    fn operations_are_declared_and_the_reader_still_reads_the_same_model() {
        let model = Model::new(vec![EntityType {
            name: "lead".into(),
            entity_set: "leads".into(),
            key: "leadid".into(),
            primary_name: None,
            properties: vec![Property::new("leadid", EdmType::Guid).required()],
            navigation: vec![],
            alternate_keys: vec![vec!["leadid".into()]],
        }]);
        let services = Services {
            complex_types: vec![ComplexType::new(
                "WhoAmIResponse",
                &[("UserId", "Edm.Guid"), ("BusinessUnitId", "Edm.Guid")],
            )],
            operations: vec![
                Operation::function("WhoAmI", vec![]).returns("mscrm.WhoAmIResponse"),
                Operation::action("QualifyLead", vec![Parameter::new("Status", "Edm.Int32")])
                    .bound("mscrm.lead")
                    .returns("Collection(mscrm.crmbaseentity)"),
                Operation::action(
                    "WinOpportunity",
                    vec![Parameter::new("Status", "Edm.Int32").optional()],
                ),
            ],
        };
        let text = write_csdl_with(&model, &services);
        for expected in [
            r#"<ComplexType Name="WhoAmIResponse">"#,
            r#"<Property Name="UserId" Type="Edm.Guid" />"#,
            r#"<Function Name="WhoAmI">"#,
            r#"<ReturnType Type="mscrm.WhoAmIResponse" Nullable="false" />"#,
            r#"<Action Name="QualifyLead" IsBound="true">"#,
            r#"<Parameter Name="entity" Type="mscrm.lead" Nullable="false" />"#,
            r#"<Parameter Name="Status" Type="Edm.Int32" />"#,
            r#"<FunctionImport Name="WhoAmI" Function="Microsoft.Dynamics.CRM.WhoAmI" />"#,
            r#"<ActionImport Name="WinOpportunity" Action="Microsoft.Dynamics.CRM.WinOpportunity" />"#,
        ] {
            assert!(text.contains(expected), "{expected} in\n{text}");
        }
        assert!(
            !text.contains(r#"ActionImport Name="QualifyLead""#),
            "bound: no import"
        );
        let read = read_csdl(&text).unwrap();
        assert_eq!(read.entity_types(), model.entity_types());
    }
}
