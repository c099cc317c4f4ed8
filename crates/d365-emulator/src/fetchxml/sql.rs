//! The Web API's read-only SQL (`GET {set}?sql=SELECT …`), read into the same [`Fetch`] a
//! FetchXML document becomes, so it runs on the FetchXML planner. The subset is the one
//! Dataverse documents
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/sdk-python/query>):
//!
//! ```sql
//! SELECT [TOP n] col, … | * FROM table [[AS] alias]
//!   [WHERE predicate {AND|OR} … (parentheses allowed)]
//!   [ORDER BY col [ASC|DESC], …]
//! ```
//!
//! where each predicate compares a column with a constant (`=`, `<>`, `!=`, `<`, `<=`, `>`,
//! `>=`, `[NOT] LIKE`, `IS [NOT] NULL`, `[NOT] IN (…)`, `[NOT] BETWEEN … AND …`). Joins,
//! grouping, `DISTINCT`, functions and subqueries are refused by name.

use super::fetch::{Attributes, Condition, Fetch, FetchError, Filter, MAX_DEPTH, Order};

fn err(message: impl Into<String>) -> FetchError {
    FetchError(message.into())
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    /// A `[bracketed]` or `"quoted"` identifier: never a keyword.
    Quoted(String),
    Str(String),
    Number(String),
    Symbol(&'static str),
}

fn tokenize(text: &str) -> Result<Vec<Token>, FetchError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        // N'text' is a Unicode string literal.
        let (quote_at, is_string) = if (c == 'N' || c == 'n') && chars.get(i + 1) == Some(&'\'') {
            (i + 1, true)
        } else {
            (i, c == '\'')
        };
        if is_string {
            let mut s = String::new();
            let mut j = quote_at + 1;
            loop {
                match chars.get(j) {
                    None => return Err(err("A string literal is not closed with '.")),
                    Some('\'') if chars.get(j + 1) == Some(&'\'') => {
                        s.push('\'');
                        j += 2;
                    }
                    Some('\'') => break,
                    Some(ch) => {
                        s.push(*ch);
                        j += 1;
                    }
                }
            }
            out.push(Token::Str(s));
            i = j + 1;
            continue;
        }
        if c == '[' || c == '"' {
            let close = if c == '[' { ']' } else { '"' };
            let end = chars[i + 1..]
                .iter()
                .position(|&ch| ch == close)
                .ok_or_else(|| err(format!("An identifier opened with {c} is not closed.")))?;
            out.push(Token::Quoted(chars[i + 1..i + 1 + end].iter().collect()));
            i += end + 2;
            continue;
        }
        let negative_number = c == '-'
            && chars.get(i + 1).is_some_and(char::is_ascii_digit)
            && !matches!(
                out.last(),
                Some(Token::Word(_) | Token::Quoted(_) | Token::Number(_) | Token::Str(_))
            );
        if c.is_ascii_digit() || negative_number {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            out.push(Token::Number(chars[start..i].iter().collect()));
            continue;
        }
        if c.is_alphanumeric() || c == '_' || c == '@' {
            let start = i;
            i += 1; // the first character, even `@`, which the loop below would not take
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Token::Word(chars[start..i].iter().collect()));
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        let symbol = match two.as_str() {
            "<>" => Some("<>"),
            "!=" => Some("!="),
            "<=" => Some("<="),
            ">=" => Some(">="),
            _ => None,
        };
        if let Some(s) = symbol {
            out.push(Token::Symbol(s));
            i += 2;
            continue;
        }
        let one = match c {
            '=' => "=",
            '<' => "<",
            '>' => ">",
            ',' => ",",
            '(' => "(",
            ')' => ")",
            '*' => "*",
            '.' => ".",
            ';' => ";",
            other => return Err(err(format!("Unexpected character '{other}' in the SQL."))),
        };
        out.push(Token::Symbol(one));
        i += 1;
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    /// The table's name and alias: either may prefix a column.
    qualifiers: Vec<String>,
    /// Parentheses open around the condition being read.
    depth: usize,
}

/// Most parentheses around one condition: the WHERE tree is read by recursion, and FetchXML
/// itself nests no deeper (its reader stops at the same depth).
const MAX_PARENTHESES: usize = MAX_DEPTH;

const RESERVED: &[&str] = &[
    "select", "top", "from", "where", "order", "by", "and", "or", "not", "like", "in", "is",
    "null", "between", "asc", "desc", "as", "join", "inner", "left", "right", "full", "cross",
    "on", "group", "having", "union", "distinct", "with",
];

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn is_keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn keyword(&mut self, word: &str) -> bool {
        let found = self.is_keyword(word);
        if found {
            self.at += 1;
        }
        found
    }

    fn expect_keyword(&mut self, word: &str) -> Result<(), FetchError> {
        if self.keyword(word) {
            return Ok(());
        }
        Err(err(format!(
            "Expected {} {}.",
            word.to_ascii_uppercase(),
            self.where_()
        )))
    }

    fn symbol(&mut self, s: &str) -> bool {
        let found = matches!(self.peek(), Some(Token::Symbol(x)) if *x == s);
        if found {
            self.at += 1;
        }
        found
    }

    fn where_(&self) -> String {
        match self.peek() {
            None => "at the end of the query".into(),
            Some(t) => format!("before {}", describe(t)),
        }
    }

    /// A name (identifier), not a keyword.
    fn name(&mut self, what: &str) -> Result<String, FetchError> {
        match self.next() {
            Some(Token::Word(w)) if !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(&w)) => Ok(w),
            Some(Token::Quoted(w)) => Ok(w),
            other => {
                self.at -= 1;
                Err(err(format!(
                    "Expected {what}, found {}.",
                    other
                        .as_ref()
                        .map_or("the end of the query".into(), describe)
                )))
            }
        }
    }

    /// `col` or `qualifier.col`, lower-cased.
    fn column(&mut self) -> Result<String, FetchError> {
        let first = self.name("a column")?;
        if self.symbol(".") {
            if !self
                .qualifiers
                .iter()
                .any(|q| q.eq_ignore_ascii_case(&first))
            {
                return Err(err(format!(
                    "'{first}' is neither the table nor its alias; joins are not supported by the emulator yet."
                )));
            }
            return Ok(self.name("a column")?.to_ascii_lowercase());
        }
        Ok(first.to_ascii_lowercase())
    }

    fn constant(&mut self) -> Result<String, FetchError> {
        match self.next() {
            Some(Token::Str(s)) => Ok(s),
            Some(Token::Number(n)) => Ok(n),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Ok("1".into()),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Ok("0".into()),
            other => {
                self.at -= 1;
                Err(err(format!(
                    "Expected a constant (a 'string' or a number), found {}; a condition compares a column with a constant.",
                    other
                        .as_ref()
                        .map_or("the end of the query".into(), describe)
                )))
            }
        }
    }

    fn or_expr(&mut self) -> Result<Filter, FetchError> {
        let mut parts = vec![self.and_expr()?];
        while self.keyword("or") {
            parts.push(self.and_expr()?);
        }
        Ok(join(parts, true))
    }

    fn and_expr(&mut self) -> Result<Filter, FetchError> {
        let mut parts = vec![self.primary()?];
        while self.keyword("and") {
            parts.push(self.primary()?);
        }
        Ok(join(parts, false))
    }

    fn primary(&mut self) -> Result<Filter, FetchError> {
        if self.symbol("(") {
            if self.depth == MAX_PARENTHESES {
                return Err(err(format!(
                    "The WHERE clause nests parentheses more than {MAX_PARENTHESES} deep."
                )));
            }
            self.depth += 1;
            let inner = self.or_expr()?;
            self.depth -= 1;
            if !self.symbol(")") {
                return Err(err(format!("Expected ) {}.", self.where_())));
            }
            return Ok(inner);
        }
        if self.is_keyword("not") {
            return Err(err(
                "NOT before a condition is not supported; write the negated operator (<>, NOT LIKE, NOT IN, IS NOT NULL).",
            ));
        }
        let condition = self.predicate()?;
        Ok(Filter {
            or: false,
            conditions: vec![condition],
            filters: Vec::new(),
        })
    }

    fn predicate(&mut self) -> Result<Condition, FetchError> {
        // A constant first: `5 < numberofemployees`.
        if matches!(self.peek(), Some(Token::Str(_) | Token::Number(_))) {
            let value = self.constant()?;
            let op = self.comparison()?;
            let column = self.column()?;
            let swapped = match op {
                "gt" => "lt",
                "lt" => "gt",
                "ge" => "le",
                "le" => "ge",
                same => same,
            };
            return Ok(condition(column, swapped, vec![value]));
        }
        let column = self.column()?;
        if self.keyword("is") {
            let not = self.keyword("not");
            self.expect_keyword("null")?;
            return Ok(condition(
                column,
                if not { "not-null" } else { "null" },
                vec![],
            ));
        }
        let not = self.keyword("not");
        if self.keyword("like") {
            let pattern = match self.next() {
                Some(Token::Str(s)) => s,
                _ => return Err(err("LIKE takes a 'pattern' string.")),
            };
            let op = if not { "not-like" } else { "like" };
            return Ok(condition(column, op, vec![pattern]));
        }
        if self.keyword("in") {
            if !self.symbol("(") {
                return Err(err("IN takes a list of constants in parentheses."));
            }
            if self.is_keyword("select") {
                return Err(err("Subqueries are not supported."));
            }
            let mut values = vec![self.constant()?];
            while self.symbol(",") {
                values.push(self.constant()?);
            }
            if !self.symbol(")") {
                return Err(err(format!("Expected ) {}.", self.where_())));
            }
            return Ok(condition(column, if not { "not-in" } else { "in" }, values));
        }
        if self.keyword("between") {
            let low = self.constant()?;
            self.expect_keyword("and")?;
            let high = self.constant()?;
            let op = if not { "not-between" } else { "between" };
            return Ok(condition(column, op, vec![low, high]));
        }
        if not {
            return Err(err(format!(
                "Expected LIKE, IN or BETWEEN after NOT {}.",
                self.where_()
            )));
        }
        let op = self.comparison()?;
        if self.is_keyword("null") {
            return Err(err("Compare with NULL using IS NULL or IS NOT NULL."));
        }
        let value = self.constant()?;
        Ok(condition(column, op, vec![value]))
    }

    fn comparison(&mut self) -> Result<&'static str, FetchError> {
        let op = match self.peek() {
            Some(Token::Symbol("=")) => "eq",
            Some(Token::Symbol("<>" | "!=")) => "ne",
            Some(Token::Symbol("<")) => "lt",
            Some(Token::Symbol("<=")) => "le",
            Some(Token::Symbol(">")) => "gt",
            Some(Token::Symbol(">=")) => "ge",
            _ => {
                return Err(err(format!(
                    "Expected a comparison (=, <>, <, <=, >, >=, LIKE, IN, BETWEEN, IS NULL) {}.",
                    self.where_()
                )));
            }
        };
        self.at += 1;
        Ok(op)
    }
}

fn describe(t: &Token) -> String {
    match t {
        Token::Word(w) | Token::Quoted(w) => format!("'{w}'"),
        Token::Str(s) => format!("the string '{s}'"),
        Token::Number(n) => format!("the number {n}"),
        Token::Symbol(s) => format!("'{s}'"),
    }
}

fn condition(attribute: String, operator: &str, values: Vec<String>) -> Condition {
    Condition {
        attribute,
        operator: operator.to_owned(),
        values,
        entity_name: None,
    }
}

/// Parts joined by `or` (or `and`), folding parts that are single conditions or already of
/// the same kind.
fn join(mut parts: Vec<Filter>, or: bool) -> Filter {
    if parts.len() == 1 {
        return parts.remove(0);
    }
    let mut out = Filter {
        or,
        conditions: Vec::new(),
        filters: Vec::new(),
    };
    for part in parts {
        if part.or == or || (part.filters.is_empty() && part.conditions.len() == 1) {
            out.conditions.extend(part.conditions);
            out.filters.extend(part.filters);
        } else {
            out.filters.push(part);
        }
    }
    out
}

/// Reads a SELECT statement.
pub fn from_sql(text: &str) -> Result<Fetch, FetchError> {
    let mut p = Parser {
        tokens: tokenize(text)?,
        at: 0,
        qualifiers: Vec::new(),
        depth: 0,
    };
    if p.is_keyword("with") {
        return Err(err("CTEs (WITH … AS) are not supported."));
    }
    p.expect_keyword("select")?;
    if p.is_keyword("distinct") {
        return Err(err("SELECT DISTINCT is not supported by the emulator yet."));
    }
    let top = if p.keyword("top") {
        match p.next() {
            Some(Token::Number(n)) => Some(
                n.parse::<usize>()
                    .map_err(|_| err(format!("TOP takes a whole number, not {n}.")))?,
            ),
            _ => return Err(err("TOP takes an integer literal.")),
        }
    } else {
        None
    };
    // Columns are read after FROM, once the alias is known: remember where they start.
    let columns_at = p.at;
    let mut depth = 0usize;
    while let Some(t) = p.peek() {
        match t {
            Token::Symbol("(") => depth += 1,
            Token::Symbol(")") => depth = depth.saturating_sub(1),
            Token::Word(w) if depth == 0 && w.eq_ignore_ascii_case("from") => break,
            _ => {}
        }
        p.at += 1;
    }
    let columns_end = p.at;
    p.expect_keyword("from")?;
    let table = p.name("a table")?.to_ascii_lowercase();
    if p.symbol(",") {
        return Err(err(
            "Several tables in FROM (an implicit cross join) are not supported.",
        ));
    }
    p.qualifiers.push(table.clone());
    // `FROM account AS a` or `FROM account a`.
    let bare_alias = matches!(p.peek(), Some(Token::Word(w)) if !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(w)))
        || matches!(p.peek(), Some(Token::Quoted(_)));
    if p.keyword("as") || bare_alias {
        let alias = p.name("an alias")?;
        p.qualifiers.push(alias);
    }
    for join_word in ["join", "inner", "left", "right", "full", "cross"] {
        if p.is_keyword(join_word) {
            return Err(err("JOIN is not supported by the emulator yet."));
        }
    }
    let after_from = p.at;

    // The column list.
    p.at = columns_at;
    let attributes = if p.symbol("*") {
        Attributes::All
    } else {
        let mut names = Vec::new();
        loop {
            if matches!(p.tokens.get(p.at + 1), Some(Token::Symbol("("))) {
                return Err(err(format!(
                    "Functions and aggregates ({}) are not supported by the emulator yet.",
                    p.peek().map(describe).unwrap_or_default()
                )));
            }
            names.push(p.column()?);
            if p.is_keyword("as") {
                return Err(err("Column aliases (AS) are not supported."));
            }
            if !p.symbol(",") {
                break;
            }
        }
        Attributes::Named(names)
    };
    if p.at != columns_end {
        return Err(err(format!("Expected , or FROM {}.", p.where_())));
    }
    p.at = after_from;

    let filter = if p.keyword("where") {
        Some(p.or_expr()?)
    } else {
        None
    };
    let mut orders = Vec::new();
    if p.keyword("order") {
        p.expect_keyword("by")?;
        loop {
            let attribute = p.column()?;
            let descending = if p.keyword("desc") {
                true
            } else {
                p.keyword("asc");
                false
            };
            orders.push(Order {
                attribute,
                descending,
            });
            if !p.symbol(",") {
                break;
            }
        }
    }
    for (word, what) in [
        ("group", "GROUP BY"),
        ("having", "HAVING"),
        ("union", "UNION"),
    ] {
        if p.is_keyword(word) {
            return Err(err(format!("{what} is not supported.")));
        }
    }
    p.symbol(";");
    if let Some(t) = p.peek() {
        return Err(err(format!(
            "Unexpected {} after the end of the query; only one SELECT is allowed.",
            describe(t)
        )));
    }
    Ok(Fetch {
        entity: table,
        attributes,
        orders,
        filter,
        top,
        ..Fetch::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_python_sdks_query_reads_as_a_fetch() {
        let f = from_sql(
            "SELECT TOP 5 accountid, name, accountnumber FROM account ORDER BY accountnumber",
        )
        .unwrap();
        assert_eq!(f.entity, "account");
        assert_eq!(f.top, Some(5));
        assert_eq!(
            f.attributes,
            Attributes::Named(vec![
                "accountid".into(),
                "name".into(),
                "accountnumber".into()
            ])
        );
        assert_eq!(f.orders[0].attribute, "accountnumber");
        assert!(!f.orders[0].descending);
        assert!(f.filter.is_none());
    }

    #[test]
    fn where_trees_aliases_and_operators() {
        let f = from_sql(
            "select a.name from Account a where a.statecode = 0 and (name like 'A%' or 1000 < numberofemployees) \
             and accountnumber is not null and industrycode in (1, 2) and revenue between 10 and 20 \
             and description <> N'it''s' order by a.name desc, accountid",
        )
        .unwrap();
        let filter = f.filter.unwrap();
        assert!(!filter.or);
        let ops: Vec<&str> = filter
            .conditions
            .iter()
            .map(|c| c.operator.as_str())
            .collect();
        assert_eq!(ops, ["eq", "not-null", "in", "between", "ne"]);
        assert_eq!(filter.conditions[4].values, vec!["it's"]);
        assert_eq!(filter.conditions[2].values, vec!["1", "2"]);
        let or = &filter.filters[0];
        assert!(or.or);
        assert_eq!(or.conditions[0].operator, "like");
        assert_eq!(
            (
                or.conditions[1].operator.as_str(),
                or.conditions[1].attribute.as_str()
            ),
            ("gt", "numberofemployees")
        );
        assert!(f.orders[0].descending);
        assert_eq!(f.orders[1].attribute, "accountid");
    }

    #[test]
    fn a_lone_at_sign_ends() {
        // Found by the property test: `@` once made the tokenizer loop forever.
        assert!(from_sql("SELECT @ FROM account WHERE @ = 1").is_ok());
        assert!(from_sql("@").is_err());
    }

    #[test]
    fn what_is_outside_the_subset_is_refused_by_name() {
        for (sql, expected) in [
            ("SELECT name FROM account JOIN contact ON x = y", "JOIN"),
            ("SELECT COUNT(*) FROM account", "aggregates"),
            ("SELECT DISTINCT name FROM account", "DISTINCT"),
            ("SELECT name FROM account WHERE name = NULL", "IS NULL"),
            (
                "SELECT name FROM account WHERE NOT name = 'x'",
                "NOT before a condition",
            ),
            (
                "SELECT name FROM account WHERE accountid IN (SELECT x FROM y)",
                "Subqueries",
            ),
            ("SELECT name FROM account GROUP BY name", "GROUP BY"),
            (
                "SELECT name FROM account; SELECT name FROM contact",
                "only one SELECT",
            ),
            ("SELECT name FROM account WHERE name = 'open", "not closed"),
            ("SELECT name FROM account WHERE name = other", "a constant"),
            (
                "SELECT c.name FROM account a",
                "neither the table nor its alias",
            ),
            ("SELECT name FROM account, contact", "implicit cross join"),
            ("SELECT TOP x name FROM account", "TOP takes"),
            ("DELETE FROM account", "Expected SELECT"),
        ] {
            let e = from_sql(sql).unwrap_err();
            assert!(e.0.contains(expected), "{sql}: {e}");
        }
    }
}
