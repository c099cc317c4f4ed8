//! Prints parse+bind throughput for typical Dataverse filters and the time and peak
//! heap to load a generated CSDL of 800 entity types.
//!
//! Run: `cargo bench -p d365-odata --bench odata`.

use std::time::Instant;

#[path = "../tests/support/csdl_gen.rs"]
mod csdl_gen;

use d365_odata::bind::typed::bind_typed_filter;
use d365_odata::csdl::read_csdl;
use d365_odata::parse_filter;

/// A field of `/proc/self/status` in kB (Linux; the workspace forbids `unsafe`, so no
/// counting global allocator). `None` elsewhere.
fn proc_status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets the peak RSS (`VmHWM`) to the current RSS (Linux ≥ 4.0).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

const FILTERS: &[&str] = &[
    "new_name eq 'Contoso' and statecode eq 0",
    "contains(new_name,'corp') or startswith(new_code,'A-')",
    "new_amount0 gt 1000.50 and new_date0 ge 2024-01-01T00:00:00Z and new_flag eq true",
    "new_parentid/new_name eq 'Parent' and not (statuscode eq 2)",
    "Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue=30) and new_count1 lt 5",
    "new_new_entity4_children/any(c:c/statecode eq 0 and c/new_amount1 gt 10)",
    "Microsoft.Dynamics.CRM.In(PropertyName='new_code',PropertyValues=[\"A\",\"B\",\"C\"])",
    "_new_parentid_value eq 3f2504e0-4f89-11d3-9a0c-0305e82c3301 or new_name eq null",
];

fn main() {
    let text = csdl_gen::generate_csdl(800);
    reset_peak();
    let rss_before = proc_status_kb("VmRSS:").unwrap_or(0);
    let start = Instant::now();
    let model = read_csdl(&text).expect("generated CSDL reads");
    let elapsed = start.elapsed();
    let peak = proc_status_kb("VmHWM:")
        .unwrap_or(0)
        .saturating_sub(rss_before);
    let retained = proc_status_kb("VmRSS:")
        .unwrap_or(0)
        .saturating_sub(rss_before);
    println!(
        "csdl: {} entity types from {:.1} MB in {:.1} ms ({:.0} MB/s); peak RSS +{:.1} MB while reading, +{:.1} MB after",
        model.entity_types().len(),
        text.len() as f64 / 1e6,
        elapsed.as_secs_f64() * 1e3,
        text.len() as f64 / 1e6 / elapsed.as_secs_f64(),
        peak as f64 / 1024.0,
        retained as f64 / 1024.0,
    );

    let entity = model.entity_type("new_entity4").expect("entity");
    let iterations = 20_000;
    for (label, bind) in [("parse", false), ("parse+bind (typed)", true)] {
        let start = Instant::now();
        let mut ok = 0usize;
        for i in 0..iterations {
            let f = FILTERS[i % FILTERS.len()];
            let expr = parse_filter(f).expect("filter parses");
            ok += if bind {
                usize::from(bind_typed_filter(&model, entity, &expr, &[]).is_ok())
            } else {
                1
            };
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{label}: {:.0} filters/s ({:.2} µs each, {ok}/{iterations} bound)",
            iterations as f64 / secs,
            secs * 1e6 / iterations as f64
        );
    }
}
