//! Reads a CloudFormation template file far enough to know its `Parameters`: names, and which
//! have a `Default`. Never evaluates anything else in the template.
//!
//! YAML templates use short-form intrinsic tags (`!Ref`, `!Sub`, `!GetAtt` …); the YAML
//! parser keeps them as tagged values, which are simply not looked at.

use std::collections::BTreeMap;
use std::path::Path;

use crate::dsl::Diagnostic;
use crate::dsl::fleet::TEMPLATES_DIR;

/// One declared template parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    pub has_default: bool,
    /// The `Default` as CloudFormation reports it back (a scalar's text), to tell a parameter
    /// left at its default from one changed outside the repo.
    pub default: Option<String>,
    pub no_echo: bool,
}

/// A stack template as stamp needs it.
#[derive(Debug, Clone)]
pub struct StackTemplate {
    /// The file's text, sent as `TemplateBody` and compared with GetTemplate.
    pub body: String,
    pub parameters: BTreeMap<String, Declared>,
}

/// Reads `templates/NAME` and its top-level `Parameters`.
pub fn load(root: &Path, name: &str) -> Result<StackTemplate, Diagnostic> {
    let rel = format!("{TEMPLATES_DIR}/{name}");
    let body = crate::input::read(root, &rel, crate::input::Kind::StackTemplate).map_err(|r| {
        r.into_diagnostic(&rel, || {
            Diagnostic::general(
                Some(&rel),
                "cannot read the template: it is not there",
                Some("create it, or name an existing template".into()),
            )
        })
    })?;
    let parameters = parameters(&body).map_err(|e| {
        Diagnostic::general(
            Some(&rel),
            format!("cannot read the template's Parameters: {e}"),
            Some("a stack template is a YAML or JSON document with a top-level mapping".into()),
        )
    })?;
    Ok(StackTemplate { body, parameters })
}

/// How deep `[` and `{` may nest in a stack template. The YAML parser's time grows with the
/// square of flow nesting (a 200 KB template of nested brackets took 36 s); real templates
/// nest a handful of levels. Brackets inside quoted strings count too: a heuristic that errs
/// towards refusing, at a depth no template reaches.
pub const FLOW_DEPTH_LIMIT: usize = 64;

/// The `Parameters` of a template body (JSON is YAML, so one parser reads both).
pub fn parameters(body: &str) -> Result<BTreeMap<String, Declared>, String> {
    let mut depth = 0usize;
    for b in body.bytes() {
        match b {
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => continue,
        }
        if depth > FLOW_DEPTH_LIMIT {
            return Err(format!(
                "`[` and `{{` nest deeper than {FLOW_DEPTH_LIMIT} levels"
            ));
        }
    }
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(body).map_err(|e| e.to_string())?;
    let serde_yaml_ng::Value::Mapping(top) = doc else {
        return Err("the document is not a mapping".into());
    };
    let mut out = BTreeMap::new();
    let Some(params) = top.get("Parameters") else {
        return Ok(out);
    };
    let serde_yaml_ng::Value::Mapping(params) = params else {
        return Err("`Parameters` is not a mapping".into());
    };
    for (k, v) in params {
        let Some(name) = k.as_str() else {
            return Err("a parameter name is not a string".into());
        };
        let field = |f: &str| match v {
            serde_yaml_ng::Value::Mapping(m) => m.get(f).cloned(),
            _ => None,
        };
        let no_echo = match field("NoEcho") {
            Some(serde_yaml_ng::Value::Bool(b)) => b,
            Some(serde_yaml_ng::Value::String(s)) => s.eq_ignore_ascii_case("true"),
            _ => false,
        };
        let default = field("Default");
        out.insert(
            name.to_owned(),
            Declared {
                has_default: default.is_some(),
                default: default.and_then(|d| match d {
                    serde_yaml_ng::Value::String(s) => Some(s),
                    serde_yaml_ng::Value::Number(n) => Some(n.to_string()),
                    serde_yaml_ng::Value::Bool(b) => Some(b.to_string()),
                    // A list default (CommaDelimitedList) comes back comma-joined.
                    serde_yaml_ng::Value::Sequence(items) => Some(
                        items
                            .iter()
                            .filter_map(|i| match i {
                                serde_yaml_ng::Value::String(s) => Some(s.clone()),
                                serde_yaml_ng::Value::Number(n) => Some(n.to_string()),
                                _ => None,
                            })
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                    _ => None,
                }),
                no_echo,
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_with_short_form_tags_is_read() {
        let p = parameters(
            "AWSTemplateFormatVersion: '2010-09-09'\nParameters:\n  Env:\n    Type: String\n  Days:\n    Type: Number\n    Default: 7\n  Db:\n    Type: String\n    NoEcho: true\nResources:\n  G:\n    Type: AWS::Logs::LogGroup\n    Properties:\n      LogGroupName: !Sub '/ecs/${Env}'\n      RetentionInDays: !Ref Days\nOutputs:\n  A:\n    Value: !GetAtt G.Arn\n",
        )
        .expect("parsed");
        assert_eq!(p.len(), 3);
        assert!(!p["Env"].has_default);
        assert!(p["Days"].has_default);
        assert_eq!(p["Days"].default.as_deref(), Some("7"));
        assert_eq!(p["Env"].default, None);
        assert!(p["Db"].no_echo);
    }

    #[test]
    fn json_templates_and_templates_without_parameters() {
        let p = parameters(r#"{"Parameters": {"A": {"Type": "String", "Default": ""}}}"#)
            .expect("parsed");
        assert!(p["A"].has_default);
        assert!(parameters("Resources: {}\n").expect("parsed").is_empty());
        assert!(parameters("- a list").is_err());
    }

    #[test]
    fn deep_flow_nesting_is_refused_before_the_parser_sees_it() {
        let deep = format!("Parameters: {}{}\n", "[".repeat(20_000), "]".repeat(20_000));
        let err = parameters(&deep).expect_err("too deep");
        // The scan's words: the parser's own limit would say "recursion limit exceeded".
        assert!(err.contains("nest deeper than 64 levels"), "{err}");
        let ok = format!(
            "Parameters: {{}}\nA: {}{}\n",
            "[".repeat(60),
            "]".repeat(60)
        );
        assert!(parameters(&ok).is_ok());
    }
}
