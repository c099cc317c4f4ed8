//! Records written by the sink read back through the Parquet reader with the right types and
//! values, across several batches; a value that does not fit names its row and column.

use arrow_array::{
    Array, BooleanArray, Decimal128Array, FixedSizeBinaryArray, Int32Array, StringArray,
    TimestampMicrosecondArray,
};
use d365_parquet::{BATCH_ROWS, Column, ColumnKind, ParquetSink};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};

fn columns() -> Vec<Column> {
    vec![
        Column::new("accountid", ColumnKind::Guid),
        Column::new("name", ColumnKind::Text),
        Column::new("revenue", ColumnKind::Decimal { scale: 4 }),
        Column::new("statecode", ColumnKind::Int32),
        Column::new("donotemail", ColumnKind::Boolean),
        Column::new("createdon", ColumnKind::DateTime),
        Column::new("_parentaccountid_value", ColumnKind::Guid),
    ]
}

#[test]
fn typed_columns_round_trip_across_batches() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let mut sink = ParquetSink::new(file.reopen().unwrap(), columns()).unwrap();
    let total = BATCH_ROWS + 10;
    for i in 0..total {
        let record: Value = serde_json::from_str(&format!(
            r#"{{"accountid": "{}", "name": "acc {i}", "revenue": 1234.5678,
                "statecode": {}, "donotemail": {}, "createdon": "2024-01-31T10:20:30Z",
                "_parentaccountid_value": null}}"#,
            uuid::Uuid::from_u128(i as u128 + 1),
            i % 2,
            i % 3 == 0
        ))
        .unwrap();
        sink.write(&record).unwrap();
    }
    assert_eq!(sink.finish().unwrap(), total as u64);

    let reader = ParquetRecordBatchReaderBuilder::try_new(file.reopen().unwrap())
        .unwrap()
        .build()
        .unwrap();
    let mut rows = 0;
    for batch in reader {
        let batch = batch.unwrap();
        let col = |name: &str| batch.column_by_name(name).unwrap().clone();
        let ids = col("accountid");
        let ids = ids.as_any().downcast_ref::<FixedSizeBinaryArray>().unwrap();
        let names = col("name");
        let names = names.as_any().downcast_ref::<StringArray>().unwrap();
        let revenue = col("revenue");
        let revenue = revenue.as_any().downcast_ref::<Decimal128Array>().unwrap();
        let state = col("statecode");
        let state = state.as_any().downcast_ref::<Int32Array>().unwrap();
        let email = col("donotemail");
        let email = email.as_any().downcast_ref::<BooleanArray>().unwrap();
        let created = col("createdon");
        let created = created
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        let parent = col("_parentaccountid_value");
        for r in 0..batch.num_rows() {
            let i = rows + r;
            assert_eq!(
                ids.value(r),
                uuid::Uuid::from_u128(i as u128 + 1).as_bytes()
            );
            assert_eq!(names.value(r), format!("acc {i}"));
            assert_eq!(revenue.value(r), 12_345_678);
            assert_eq!(revenue.scale(), 4);
            assert_eq!(state.value(r), (i % 2) as i32);
            assert_eq!(email.value(r), i % 3 == 0);
            assert_eq!(created.value(r), 1_706_696_430_000_000);
            assert!(parent.is_null(r));
        }
        rows += batch.num_rows();
    }
    assert_eq!(rows, total);
}

#[test]
fn a_value_that_does_not_fit_names_its_row_and_column() {
    let mut sink = ParquetSink::new(Vec::new(), columns()).unwrap();
    sink.write(&json!({"accountid": uuid::Uuid::nil().to_string()}))
        .unwrap();
    let err = sink.write(&json!({"accountid": "not-a-guid"})).unwrap_err();
    assert_eq!(
        err.to_string(),
        "row 1, column accountid: \"not-a-guid\" is not a GUID"
    );
    let err = sink.write(&json!({"statecode": 1e12})).unwrap_err();
    assert!(err.to_string().contains("column statecode"), "{err}");
}
