//! A small reader of RFC 5234 / RFC 7405 ABNF and a generator of random strings that
//! match a rule, for property tests against `odata-abnf-construction-rules.txt`.
//! Test-only: the crate's parsers are hand-written; this checks them against the grammar.
#![allow(unreachable_pub)]

use std::collections::HashMap;

/// One ABNF element.
#[derive(Debug, Clone)]
pub enum Node {
    Alt(Vec<Node>),
    Seq(Vec<Node>),
    Rep(u32, Option<u32>, Box<Node>),
    Rule(String),
    /// A quoted string (written case, as the generator emits it).
    Lit(String),
    Range(u32, u32),
}

/// The rules of a grammar, by name.
#[derive(Debug, Default)]
pub struct Grammar {
    rules: HashMap<String, Node>,
    cost: HashMap<String, u32>,
}

impl Grammar {
    /// Reads the ABNF text.
    pub fn parse(text: &str) -> Grammar {
        let mut grammar = Grammar::default();
        let mut current: Option<(String, String)> = None;
        let flush = |c: Option<(String, String)>, g: &mut Grammar| {
            if let Some((name, body)) = c {
                let (incremental, body) = match body.strip_prefix('/') {
                    Some(rest) => (true, rest.to_owned()),
                    None => (false, body),
                };
                let node = Reader::new(&body).alternation();
                match (incremental, g.rules.remove(&name)) {
                    (true, Some(Node::Alt(mut alts))) => {
                        alts.push(node);
                        g.rules.insert(name, Node::Alt(alts));
                    }
                    (true, Some(old)) => {
                        g.rules.insert(name, Node::Alt(vec![old, node]));
                    }
                    _ => {
                        g.rules.insert(name, node);
                    }
                }
            }
        };
        for line in text.lines() {
            let line = strip_comment(line);
            if line.trim().is_empty() {
                continue;
            }
            if line.starts_with(char::is_whitespace) {
                if let Some((_, body)) = current.as_mut() {
                    body.push(' ');
                    body.push_str(line.trim());
                }
                continue;
            }
            flush(current.take(), &mut grammar);
            if let Some((name, body)) = line.split_once('=') {
                current = Some((name.trim().to_owned(), body.trim().to_owned()));
            }
        }
        flush(current.take(), &mut grammar);
        grammar.compute_costs();
        grammar
    }

    /// Whether the grammar defines `rule`.
    pub fn has(&self, rule: &str) -> bool {
        self.rules.contains_key(rule)
    }

    /// The least output length of each rule (a fixed point), so the generator can end
    /// recursion by taking the cheapest alternative.
    fn compute_costs(&mut self) {
        loop {
            let mut changed = false;
            let names: Vec<String> = self.rules.keys().cloned().collect();
            for name in names {
                let c = self.node_cost(&self.rules[&name]);
                if c < *self.cost.get(&name).unwrap_or(&u32::MAX) {
                    self.cost.insert(name, c);
                    changed = true;
                }
            }
            if !changed {
                return;
            }
        }
    }

    fn node_cost(&self, node: &Node) -> u32 {
        match node {
            Node::Alt(alts) => alts.iter().map(|a| self.node_cost(a)).min().unwrap_or(0),
            Node::Seq(items) => items
                .iter()
                .map(|i| self.node_cost(i))
                .fold(0u32, |a, b| a.saturating_add(b)),
            Node::Rep(min, _, inner) => self.node_cost(inner).saturating_mul(*min),
            Node::Rule(r) => *self.cost.get(r).unwrap_or(&u32::MAX),
            Node::Lit(s) => s.len() as u32,
            Node::Range(..) => 1,
        }
    }

    /// A random string matching `rule`; past `depth` nested rules, the cheapest
    /// expansions are taken.
    pub fn generate(&self, rule: &str, rng: &mut Rng, depth: u32) -> String {
        let mut out = String::new();
        self.emit(&Node::Rule(rule.to_owned()), rng, depth, &mut out);
        out
    }

    fn emit(&self, node: &Node, rng: &mut Rng, depth: u32, out: &mut String) {
        match node {
            Node::Alt(alts) => {
                let pick = if depth == 0 {
                    alts.iter()
                        .min_by_key(|a| self.node_cost(a))
                        .expect("an alternative")
                } else {
                    let finite: Vec<&Node> = alts
                        .iter()
                        .filter(|a| self.node_cost(a) < u32::MAX)
                        .collect();
                    finite[rng.below(finite.len() as u32) as usize]
                };
                self.emit(pick, rng, depth, out);
            }
            Node::Seq(items) => items.iter().for_each(|i| self.emit(i, rng, depth, out)),
            Node::Rep(min, max, inner) => {
                let hi = max.unwrap_or(min + 3).min(min + 3);
                let n = if depth == 0 {
                    *min
                } else {
                    min + rng.below(hi - min + 1)
                };
                for _ in 0..n {
                    self.emit(inner, rng, depth, out);
                }
            }
            Node::Rule(r) => {
                let node = self
                    .rules
                    .get(r)
                    .unwrap_or_else(|| panic!("undefined rule {r}"));
                self.emit(node, rng, depth.saturating_sub(1), out);
            }
            Node::Lit(s) => out.push_str(s),
            Node::Range(lo, hi) => {
                let c = char::from_u32(lo + rng.below(hi - lo + 1)).unwrap_or('a');
                out.push(c);
            }
        }
    }
}

fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

struct Reader<'a> {
    s: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(s: &'a str) -> Self {
        Reader {
            s: s.as_bytes(),
            at: 0,
        }
    }

    fn skip(&mut self) {
        while self.s.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip();
        self.s.get(self.at).copied()
    }

    fn alternation(&mut self) -> Node {
        let mut alts = vec![self.concatenation()];
        while self.peek() == Some(b'/') {
            self.at += 1;
            alts.push(self.concatenation());
        }
        if alts.len() == 1 {
            alts.pop().unwrap()
        } else {
            Node::Alt(alts)
        }
    }

    fn concatenation(&mut self) -> Node {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if matches!(c, b'/' | b')' | b']') {
                break;
            }
            items.push(self.repetition());
        }
        if items.len() == 1 {
            items.pop().unwrap()
        } else {
            Node::Seq(items)
        }
    }

    fn number(&mut self) -> Option<u32> {
        let from = self.at;
        while self.s.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        std::str::from_utf8(&self.s[from..self.at])
            .ok()?
            .parse()
            .ok()
    }

    fn repetition(&mut self) -> Node {
        self.skip();
        let min = self.number();
        if self.s.get(self.at) == Some(&b'*') {
            self.at += 1;
            let max = self.number();
            let inner = self.element();
            return Node::Rep(min.unwrap_or(0), max, Box::new(inner));
        }
        let inner = self.element();
        match min {
            Some(n) => Node::Rep(n, Some(n), Box::new(inner)),
            None => inner,
        }
    }

    fn element(&mut self) -> Node {
        let c = self.s[self.at];
        match c {
            b'(' | b'[' => {
                self.at += 1;
                let inner = self.alternation();
                self.peek();
                self.at += 1;
                if c == b'[' {
                    Node::Rep(0, Some(1), Box::new(inner))
                } else {
                    inner
                }
            }
            b'"' => self.quoted(),
            b'%' => {
                self.at += 1;
                let kind = self.s[self.at];
                self.at += 1;
                match kind {
                    b's' | b'i' => self.quoted(),
                    _ => self.numeric(match kind {
                        b'x' => 16,
                        b'd' => 10,
                        _ => 2,
                    }),
                }
            }
            b'<' => {
                let end = self.s[self.at..].iter().position(|b| *b == b'>').unwrap();
                self.at += end + 1;
                Node::Lit(String::new())
            }
            _ => {
                let from = self.at;
                while self
                    .s
                    .get(self.at)
                    .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'-')
                {
                    self.at += 1;
                }
                assert!(self.at > from, "unexpected '{}' in the ABNF", c as char);
                Node::Rule(String::from_utf8_lossy(&self.s[from..self.at]).into_owned())
            }
        }
    }

    fn quoted(&mut self) -> Node {
        self.at += 1;
        let end = self.s[self.at..].iter().position(|b| *b == b'"').unwrap();
        let text = String::from_utf8_lossy(&self.s[self.at..self.at + end]).into_owned();
        self.at += end + 1;
        Node::Lit(text)
    }

    fn numeric(&mut self, radix: u32) -> Node {
        let digits = |r: &mut Self| {
            let from = r.at;
            while r.s.get(r.at).is_some_and(|b| (*b as char).is_digit(radix)) {
                r.at += 1;
            }
            u32::from_str_radix(std::str::from_utf8(&r.s[from..r.at]).unwrap(), radix).unwrap()
        };
        let first = digits(self);
        match self.s.get(self.at) {
            Some(b'-') => {
                self.at += 1;
                Node::Range(first, digits(self))
            }
            Some(b'.') => {
                let mut text = char::from_u32(first).unwrap().to_string();
                while self.s.get(self.at) == Some(&b'.') {
                    self.at += 1;
                    text.push(char::from_u32(digits(self)).unwrap());
                }
                Node::Lit(text)
            }
            _ => Node::Range(first, first),
        }
    }
}

/// A deterministic xorshift generator (the runs must be repeatable).
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % u64::from(n.max(1))) as u32
    }
}
