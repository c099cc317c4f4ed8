//! Reading the test-case file (YAML events from `saphyr-parser`) into a [`TestSuite`].

use std::path::Path;

use saphyr_parser::{Event, Parser as YamlParser};

use super::{SuiteError, TestCase, TestSuite};

/// A YAML node of the subset the format uses (no anchors/aliases needed).
#[derive(Debug)]
enum Node {
    Scalar(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

fn yaml_tree(text: &str) -> Result<Node, SuiteError> {
    let mut events = YamlParser::new_from_str(text);
    let mut next = || -> Result<Event<'_>, SuiteError> {
        match events.next() {
            Some(Ok((event, _))) => Ok(event),
            Some(Err(e)) => Err(SuiteError::Yaml(e.to_string())),
            None => Err(SuiteError::Yaml("unexpected end of stream".into())),
        }
    };
    // StreamStart, DocumentStart, then the root node.
    let mut stack: Vec<(Node, Option<String>)> = Vec::new();
    let mut root = None;
    loop {
        let event = next()?;
        let done: Option<Node> = match event {
            Event::StreamStart | Event::DocumentStart(_) | Event::Nothing => continue,
            Event::StreamEnd | Event::DocumentEnd => break,
            Event::Alias(_) => return Err(SuiteError::Yaml("aliases are not supported".into())),
            Event::Scalar(value, ..) => Some(Node::Scalar(value.into_owned())),
            Event::SequenceStart(..) => {
                stack.push((Node::Seq(Vec::new()), None));
                None
            }
            Event::MappingStart(..) => {
                stack.push((Node::Map(Vec::new()), None));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => stack.pop().map(|(node, _)| node),
        };
        let Some(node) = done else { continue };
        // Attach the finished node to its parent (a pending map key waits for its value).
        match stack.last_mut() {
            None => root = Some(node),
            Some((Node::Seq(items), _)) => items.push(node),
            Some((Node::Map(entries), key)) => match (key.take(), node) {
                (Some(k), node) => entries.push((k, node)),
                (None, Node::Scalar(k)) => *key = Some(k),
                (None, _) => return Err(SuiteError::Yaml("complex mapping keys".into())),
            },
            Some((Node::Scalar(_), _)) => unreachable!("scalars are never pushed"),
        }
        if root.is_some() && stack.is_empty() {
            break;
        }
    }
    root.ok_or_else(|| SuiteError::Yaml("empty document".into()))
}

impl TestSuite {
    /// Reads a test-case file.
    pub fn read(path: &Path) -> Result<TestSuite, SuiteError> {
        let text = std::fs::read_to_string(path).map_err(|source| SuiteError::Io {
            path: path.display().to_string(),
            source,
        })?;
        TestSuite::from_yaml(&text)
    }

    /// Parses the YAML text of a test-case file.
    pub fn from_yaml(text: &str) -> Result<TestSuite, SuiteError> {
        let Node::Map(top) = yaml_tree(text)? else {
            return Err(SuiteError::Shape("the document is not a mapping".into()));
        };
        let mut suite = TestSuite::default();
        for (key, value) in top {
            match (key.as_str(), value) {
                ("Constraints", Node::Map(rules)) => {
                    for (rule, names) in rules {
                        let Node::Seq(names) = names else {
                            return Err(SuiteError::Shape(format!(
                                "Constraints.{rule} is not a list"
                            )));
                        };
                        let names = names
                            .into_iter()
                            .map(|n| match n {
                                Node::Scalar(s) => Ok(s),
                                _ => Err(SuiteError::Shape(format!(
                                    "Constraints.{rule} holds a non-string"
                                ))),
                            })
                            .collect::<Result<_, _>>()?;
                        suite.constraints.insert(rule, names);
                    }
                }
                ("TestCases", Node::Seq(cases)) => {
                    for (i, case) in cases.into_iter().enumerate() {
                        suite.cases.push(test_case(i, case)?);
                    }
                }
                (other, _) => {
                    return Err(SuiteError::Shape(format!(
                        "unexpected top-level key '{other}'"
                    )));
                }
            }
        }
        Ok(suite)
    }
}

fn test_case(index: usize, node: Node) -> Result<TestCase, SuiteError> {
    let Node::Map(fields) = node else {
        return Err(SuiteError::Shape(format!(
            "test case {index} is not a mapping"
        )));
    };
    let (mut name, mut rule, mut input, mut fail_at) = (None, None, None, None);
    for (key, value) in fields {
        let scalar = |v: Node| match v {
            Node::Scalar(s) => Ok(s),
            _ => Err(SuiteError::Shape(format!(
                "test case {index}: {key} is not a string"
            ))),
        };
        match key.as_str() {
            "Name" => name = Some(scalar(value)?),
            "Rule" => rule = Some(scalar(value)?),
            "Input" => input = Some(scalar(value)?),
            "FailAt" => {
                let text = scalar(value)?;
                fail_at = Some(text.parse::<usize>().map_err(|_| {
                    SuiteError::Shape(format!(
                        "test case {index}: FailAt '{text}' is not a number"
                    ))
                })?);
            }
            "Expect" => {}
            other => {
                return Err(SuiteError::Shape(format!(
                    "test case {index}: unknown key '{other}'"
                )));
            }
        }
    }
    let missing = |what: &str| SuiteError::Shape(format!("test case {index} has no {what}"));
    Ok(TestCase {
        name: name.ok_or_else(|| missing("Name"))?,
        rule: rule.ok_or_else(|| missing("Rule"))?,
        input: input.ok_or_else(|| missing("Input"))?,
        fail_at,
    })
}
