//! Typed Dataverse tables: Rust source generated from a [`d365_odata::model::Model`] (read from a
//! `$metadata` CSDL document, or the emulator's model) for the tables asked for. Pure: no I/O,
//! so it runs the same in `d365 codegen`, a `build.rs` or a test.
//!
//! Per table the output has
//! * a struct (`Account`) with one `Option` field per column, `#[serde(rename = "…")]` to the
//!   Web API's name, `None` skipped when writing, read-only columns never written;
//! * lookups (`_primarycontactid_value`) as [`Lookup<T>`](#lookups) fields that read the id and
//!   the `lookuplogicalname` and formatted-value annotations, and write `nav@odata.bind`;
//! * an enum per choice column with an `Other(i32)` fallback, so an unknown value never fails;
//! * an `impl Table` with the logical name, entity set, primary key and `$select` columns.
//!
//! Everything is sorted: the same model and tables give the same bytes, formatted as rustfmt
//! would. The generated file needs `serde`, `serde_json`, `uuid` and `time`.
//!
//! # Lookups
//!
//! The file defines `Lookup<T>`, `AnyTable` and the `Table` trait itself (it depends on no
//! d365 crate). A lookup that may point to several tables is `Lookup<AnyTable>`; to write one,
//! name the table (`Lookup::to("account", id)`).
//!
//! ```
//! use d365_odata::model::{EdmType, EntityType, Model, Property};
//!
//! let account = EntityType {
//!     name: "account".into(),
//!     entity_set: "accounts".into(),
//!     key: "accountid".into(),
//!     primary_name: Some("name".into()),
//!     properties: vec![
//!         Property::new("accountid", EdmType::Guid).required(),
//!         Property::new("name", EdmType::String).max_length(160),
//!     ],
//!     navigation: vec![],
//!     alternate_keys: vec![],
//! };
//! let code = d365_codegen::generate(&Model::new(vec![account]), &["accounts"], "example").unwrap();
//! assert!(code.contains("pub struct Account {"));
//! assert!(code.contains(r#"#[serde(rename = "name", default, skip_serializing_if = "Option::is_none")]"#));
//! ```

mod emit;
mod error;
mod names;
pub mod option_sets;
mod plan;

pub use error::CodegenError;

/// Generates the Rust source for `tables` (logical names or entity set names) of `model`.
/// `source` (a file name, an environment URL) goes into the header comment.
pub fn generate(
    model: &d365_odata::model::Model,
    tables: &[&str],
    source: &str,
) -> Result<String, CodegenError> {
    let plans = plan::plan(model, tables)?;
    Ok(emit::file(&plans, source))
}
