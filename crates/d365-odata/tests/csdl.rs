//! CSDL read/write on a generated Dataverse-sized document.

mod support {
    pub(crate) mod csdl_gen;
}

use d365_odata::csdl::{read_csdl, write_csdl};

#[test]
fn generated_metadata_reads_and_round_trips() {
    let text = support::csdl_gen::generate_csdl(50);
    let model = read_csdl(&text).unwrap();
    assert_eq!(model.entity_types().len(), 50);
    let e = model.by_entity_set("new_entity7s").unwrap();
    assert_eq!(e.key, "new_entity7id");
    // 3 + 48 + 2 + 4 + createdon + lookup; the Edm.Binary column is left out.
    assert_eq!(e.properties.len(), 59);
    assert_eq!(e.alternate_keys, vec![vec!["new_code".to_owned()]]);
    let children = e.navigation("new_new_entity7_children").unwrap();
    assert!(children.collection);
    assert_eq!(children.foreign_key, "_new_parentid_value");
    let written = write_csdl(&model);
    let back = read_csdl(&written).unwrap();
    assert_eq!(back.entity_types(), model.entity_types());
}
