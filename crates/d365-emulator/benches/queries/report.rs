//! What the bench prints: each shape with its SQL and SQLite's plan for it, a line per run,
//! and the markdown table for `docs/BENCHMARKS.md`.

use std::time::Duration;

use super::drive::Run;
use super::shapes::Shape;

/// Prints `shape`'s request, parameters, ceiling SQL and SQLite's plan for that SQL on `conn`.
pub(crate) fn describe(shape: &Shape, conn: &rusqlite::Connection) {
    println!("\n## {}", shape.name);
    println!("  GET {}", shape.pattern);
    println!("  varies: {} ({} values)", shape.varies, shape.params.len());
    println!("  ceiling SQL: {}", squeeze(shape.sql));
    let explain = format!("EXPLAIN QUERY PLAN {}", shape.sql);
    let params = (shape.sql_params)(&shape.params[0]);
    let mut statement = conn.prepare(&explain).expect("EXPLAIN QUERY PLAN");
    let plan = statement
        .query_map(rusqlite::params_from_iter(params), |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(3)?,
            ))
        })
        .expect("the plan")
        .collect::<rusqlite::Result<Vec<_>>>()
        .expect("the plan's rows");
    // Indent each step under its parent.
    let mut depth: Vec<(i64, usize)> = Vec::new();
    for (id, parent, detail) in plan {
        let level = depth
            .iter()
            .find(|(i, _)| *i == parent)
            .map_or(0, |(_, d)| d + 1);
        depth.push((id, level));
        println!("  plan: {}{detail}", "  ".repeat(level));
    }
}

/// `sql` on one line, runs of spaces made one.
fn squeeze(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One line of the table: a shape's HTTP run and its ceiling's.
#[derive(Debug)]
pub(crate) struct Row {
    name: &'static str,
    http: Run,
    ceiling: Option<Run>,
}

fn rate(x: f64) -> String {
    if x >= 1_000.0 {
        let digits = (x.round() as u64).to_string();
        let mut out = String::new();
        for (i, d) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(d);
        }
        out
    } else if x >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 1_000.0 {
        format!("{:.2} s", ms / 1e3)
    } else if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

impl Row {
    /// A row from the runs.
    pub(crate) fn new(name: &'static str, http: Run, ceiling: Option<Run>) -> Self {
        Self {
            name,
            http,
            ceiling,
        }
    }

    fn cells(&self) -> Vec<String> {
        let h = &self.http;
        let mut cells = vec![
            self.name.to_owned(),
            rate(h.rate()),
            ms(h.quantile(0.5)),
            ms(h.quantile(0.99)),
            h.errors.to_string(),
        ];
        match &self.ceiling {
            Some(c) => cells.extend([
                rate(c.rate()),
                ms(c.quantile(0.5)),
                ms(c.quantile(0.99)),
                if c.rate() > 0.0 {
                    format!("{:.2}", h.rate() / c.rate())
                } else {
                    "—".to_owned()
                },
            ]),
            None => cells.extend(["—", "—", "—", "—"].map(str::to_owned)),
        }
        cells
    }

    /// The row as a progress line.
    pub(crate) fn line(&self) -> String {
        let c = self.cells();
        format!(
            "{}: HTTP {} req/s, p50 {}, p99 {}, {} errors ({} requests); ceiling {} q/s, p50 {}, p99 {}; ratio {}",
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            self.http.latencies.len(),
            c[5],
            c[6],
            c[7],
            c[8]
        )
    }

    /// What failed in this row's runs, if anything did.
    pub(crate) fn failure(&self) -> Option<String> {
        let runs = std::iter::once(("HTTP", &self.http))
            .chain(self.ceiling.iter().map(|c| ("ceiling", c)));
        let failed: Vec<String> = runs
            .filter(|(_, r)| r.errors > 0)
            .map(|(what, r)| {
                format!(
                    "{} {what}: {} errors, the first: {}",
                    self.name,
                    r.errors,
                    r.first_error.as_deref().unwrap_or("?")
                )
            })
            .collect();
        (!failed.is_empty()).then(|| failed.join("\n"))
    }
}

/// Prints the markdown table of `rows`.
pub(crate) fn table(rows: &[Row], accounts: usize, connections: usize, readers: usize) {
    println!(
        "\n{} accounts, {connections} HTTPS/1.1 keep-alive connections; ceiling: the same SQL from \
         {connections} tasks on {readers} read-only SQLite connections; ratio = HTTP req/s ÷ ceiling q/s\n",
        rate(accounts as f64)
    );
    println!(
        "| shape | HTTP req/s | p50 | p99 | errors | ceiling q/s | p50 | p99 | HTTP/ceiling |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for row in rows {
        println!("| {} |", row.cells().join(" | "));
    }
}
