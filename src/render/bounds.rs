//! Bounds on rendering a template: instructions, output size, and what one filter may build.
//!
//! minijinja's fuel stops a template after [`FUEL`] instructions (a loop runs at most that
//! many times in all), and the rendered text may be at most [`OUTPUT_LIMIT`] bytes: it is
//! written through a writer that refuses more. Fuel alone does not bound memory: one filter
//! call is one instruction however much it builds (`'x'|indent(2000000000)` built 5.9 GB), so
//! every built-in filter is replaced by a guarded one that refuses, before calling it,
//! arguments larger than [`VALUE_LIMIT`] bytes or [`ITEM_LIMIT`] items, and for the filters
//! whose output can outgrow their input (`indent`, `replace`, `join`, `format`, `batch`,
//! `slice`, `tojson`) an output that would pass [`VALUE_LIMIT`]. Any other filter's result
//! is measured too. Each refusal is an error naming the filter and the limit.

use std::io::Write;

use minijinja::value::{Rest, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State, filters};

/// Instructions one render may run: a loop of 100,000 turns with a few instructions each fits,
/// two nested loops of 100,000 turns do not.
pub const FUEL: u64 = 1_000_000;
/// Bytes one render may produce: ECS takes at most 64 KiB of task definition JSON, so this
/// leaves room for whitespace and still keeps a runaway template small.
pub const OUTPUT_LIMIT: usize = 1024 * 1024;
/// The largest value (string, or everything in a list or map) a filter may take or make.
pub const VALUE_LIMIT: usize = 4 * 1024 * 1024;
/// The longest list a filter may take or make; `range` has the same limit.
pub const ITEM_LIMIT: usize = 100_000;

/// Turns fuel on and puts the guarded filters in place of minijinja's own.
pub fn install(env: &mut Environment<'static>) {
    env.set_fuel(Some(FUEL));
    for (name, f) in builtin_filters() {
        let name: &'static str = name;
        env.add_filter(name, move |state: &State, args: Rest<Value>| {
            guarded(name, &f, state, &args)
        });
    }
}

fn builtin_filters() -> Vec<(&'static str, Value)> {
    macro_rules! table {
        ($($name:literal => $f:path),* $(,)?) => {
            vec![$(($name, Value::from_function($f))),*]
        };
    }
    table![
        "safe" => filters::safe, "escape" => filters::escape, "e" => filters::escape,
        "lower" => filters::lower, "upper" => filters::upper, "title" => filters::title,
        "capitalize" => filters::capitalize, "replace" => filters::replace,
        "length" => filters::length, "count" => filters::length,
        "dictsort" => filters::dictsort, "items" => filters::items,
        "reverse" => filters::reverse, "trim" => filters::trim, "join" => filters::join,
        "split" => filters::split, "lines" => filters::lines,
        "default" => filters::default, "d" => filters::default, "round" => filters::round,
        "abs" => filters::abs, "int" => filters::int, "float" => filters::float,
        "attr" => filters::attr, "first" => filters::first, "last" => filters::last,
        "min" => filters::min, "max" => filters::max, "sort" => filters::sort,
        "list" => filters::list, "string" => filters::string, "bool" => filters::bool,
        "batch" => filters::batch, "slice" => filters::slice, "sum" => filters::sum,
        "indent" => filters::indent, "select" => filters::select, "reject" => filters::reject,
        "selectattr" => filters::selectattr, "rejectattr" => filters::rejectattr,
        "map" => filters::map, "groupby" => filters::groupby, "unique" => filters::unique,
        "chain" => filters::chain, "zip" => filters::zip, "pprint" => filters::pprint,
        "format" => filters::format, "tojson" => filters::tojson,
    ]
}

fn guarded(name: &str, f: &Value, state: &State, args: &[Value]) -> Result<Value, Error> {
    // minijinja's strict mode lets an undefined value into filters, and `tojson` writes it as
    // `null`: a misspelt `service.vars.queu|tojson` would deploy `null` instead of failing.
    if name == "tojson" && args.first().is_some_and(Value::is_undefined) {
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    for a in args {
        size(a).map_err(|why| too_big(name, "an argument", &why))?;
    }
    if let Some(estimate) = output_estimate(name, args)
        && estimate > VALUE_LIMIT
    {
        return Err(too_big(
            name,
            "its result",
            &format!("it would be about {estimate} bytes"),
        ));
    }
    let out = f.call(state, args)?;
    size(&out).map_err(|why| too_big(name, "its result", &why))?;
    Ok(out)
}

fn too_big(filter: &str, what: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!(
            "filter `{filter}`: {what} is too large ({why}; the limits are {VALUE_LIMIT} bytes and {ITEM_LIMIT} items)"
        ),
    )
}

/// The bytes a value holds, or why it is over the limits. Lazy sequences are measured by
/// their length first, so `[x] * 10**12` is refused without being walked.
fn size(v: &Value) -> Result<usize, String> {
    let mut total = 0usize;
    let mut stack = vec![v.clone()];
    while let Some(v) = stack.pop() {
        total = total.saturating_add(match v.kind() {
            ValueKind::String | ValueKind::Bytes => v
                .as_str()
                .map_or_else(|| v.as_bytes().map_or(0, <[u8]>::len), str::len),
            ValueKind::Seq | ValueKind::Iterable | ValueKind::Map => {
                if let Some(n) = v.len().filter(|n| *n > ITEM_LIMIT) {
                    return Err(format!("{n} items"));
                }
                let items: Vec<Value> = v
                    .try_iter()
                    .map(|i| i.take(ITEM_LIMIT + 1).collect())
                    .unwrap_or_default();
                if items.len() > ITEM_LIMIT {
                    return Err(format!("more than {ITEM_LIMIT} items"));
                }
                if v.kind() == ValueKind::Map {
                    for k in &items {
                        stack.push(v.get_item(k).unwrap_or_default());
                    }
                }
                stack.extend(items);
                8
            }
            _ => 8,
        });
        if total > VALUE_LIMIT {
            return Err(format!("more than {VALUE_LIMIT} bytes"));
        }
    }
    Ok(total)
}

/// An upper bound of the result's size, for the filters whose result can outgrow their
/// arguments; `None` for the others (they are measured after the call).
fn output_estimate(name: &str, args: &[Value]) -> Option<usize> {
    let len = |v: Option<&Value>| v.map_or(0, |v| size(v).unwrap_or(usize::MAX));
    let text = args.first().and_then(Value::as_str).unwrap_or("");
    let lines = text.matches('\n').count() + 1;
    let ints = || args.iter().skip(1).flat_map(numbers).max().unwrap_or(0);
    Some(match name {
        "indent" => text.len().saturating_add(ints().saturating_mul(lines)),
        "replace" => {
            let from = args.get(1).and_then(Value::as_str).map_or(1, str::len);
            let to = len(args.get(2));
            let times = text.len() / from.max(1) + 1;
            text.len().saturating_add(times.saturating_mul(to))
        }
        "join" => {
            let items = args.first().and_then(Value::len).unwrap_or(0);
            len(args.first()).saturating_add(items.saturating_mul(len(args.get(1))))
        }
        "format" => args.iter().skip(1).map(|a| len(Some(a))).fold(
            text.len().saturating_add(widths(text)),
            usize::saturating_add,
        ),
        "batch" | "slice" => ints().saturating_mul(8).saturating_add(len(args.first())),
        "tojson" | "pprint" => len(args.first()).saturating_mul(ints().saturating_add(2)),
        _ => return None,
    })
}

/// The integers among filter arguments, keyword arguments included.
fn numbers(v: &Value) -> Vec<usize> {
    if v.kind() == ValueKind::Number {
        return vec![usize::try_from(v.clone()).unwrap_or(usize::MAX)];
    }
    if v.kind() == ValueKind::Map {
        return v
            .try_iter()
            .into_iter()
            .flatten()
            .filter_map(|k| v.get_item(&k).ok())
            .filter(|x| x.kind() == ValueKind::Number)
            .map(|x| usize::try_from(x).unwrap_or(usize::MAX))
            .collect();
    }
    Vec::new()
}

/// The widths and precisions written in a printf-style format (`%2000000000s`), added up.
fn widths(format: &str) -> usize {
    format
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|d| {
            d.parse::<usize>()
                .ok()
                .or((!d.is_empty()).then_some(usize::MAX))
        })
        .fold(0usize, usize::saturating_add)
}

/// A writer that takes at most [`OUTPUT_LIMIT`] bytes, then fails every write.
#[derive(Default)]
pub struct Capped {
    pub bytes: Vec<u8>,
    pub overflowed: bool,
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > OUTPUT_LIMIT {
            self.overflowed = true;
            return Err(std::io::Error::other("output limit"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn render(src: &str) -> Result<String, String> {
        let mut env = Environment::new();
        install(&mut env);
        env.add_template_owned("t", src.to_owned()).unwrap();
        let mut out = Capped::default();
        let t = env.get_template("t").unwrap();
        match t.render_captured_to(minijinja::context! {}, &mut out) {
            Ok(_) => Ok(String::from_utf8(out.bytes).unwrap()),
            Err(_) if out.overflowed => Err("output limit".to_owned()),
            Err(e) => Err(format!("{e:#}")),
        }
    }

    #[test]
    fn filters_work_as_before_within_the_limits() {
        assert_eq!(render("{{ 'a\nb'|indent(2, true) }}").unwrap(), "  a\n  b");
        assert_eq!(render("{{ 'abc'|replace('b', 'xx') }}").unwrap(), "axxc");
        assert_eq!(render("{{ [1, 2]|join(', ') }}").unwrap(), "1, 2");
        assert_eq!(render("{{ '%s-%d'|format('a', 3) }}").unwrap(), "a-3");
        assert_eq!(render("{{ {'b': 1}|tojson }}").unwrap(), r#"{"b":1}"#);
        assert_eq!(render("{{ range(3)|map('string')|join }}").unwrap(), "012");
    }

    #[test]
    fn a_filter_that_would_build_too_much_is_refused_before_it_runs() {
        for (src, says) in [
            (
                "{{ 'x'|indent(2000000000, true)|length }}",
                "filter `indent`",
            ),
            (
                "{{ 'x'|indent(width=2000000000, first=true) }}",
                "filter `indent`",
            ),
            (
                "{{ ('x' * 1000000)|replace('x', 'yyyyyyyyyy') }}",
                "filter `replace`",
            ),
            (
                "{{ (['xxxxxxxxxx'] * 99999)|join('x' * 1000) }}",
                "filter `join`",
            ),
            ("{{ '%2000000000s'|format('x') }}", "filter `format`"),
            ("{{ ([1] * 1000000000000)|list|length }}", "filter `list`"),
            ("{{ [1]|batch(1000000000000, 0)|list }}", "filter `batch`"),
        ] {
            let err = render(src).unwrap_err();
            assert!(
                err.contains(says) && err.contains("too large"),
                "{src}: {err}"
            );
        }
    }

    #[test]
    fn loops_stop_when_the_fuel_is_spent_and_output_at_its_limit() {
        let err = render(
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        )
        .unwrap_err();
        assert!(err.contains("fuel"), "{err}");
        let err = render("{% for i in range(2000) %}{{ 'x' * 1000 }}{% endfor %}").unwrap_err();
        assert_eq!(err, "output limit");
    }
}
