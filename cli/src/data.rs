//! The JSON data files of `sharegrad eval`.
//!
//! Input:
//! ```json
//! {"sizes":   {"n": 6},
//!  "tensors": {"y^0": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], "w": [0.5, -1.0, 0.25, 2.0], "b": 0.5},
//!  "seed":    {"y^2": [1.0, 0.0, 0.0, 0.0]}}
//! ```
//! A tensor is its values flattened in row-major order; a scalar may be a
//! bare number (or a one-element array). Nested arrays are accepted too and
//! flattened row-major. Every field is optional; `seeds` is accepted as
//! another spelling of `seed`. Sizes are integers (`6` or `6.0`).
//!
//! Output: `{"values": {...}, "grads": {...}}`, keys sorted, each tensor on
//! one line, scalars as bare numbers, numbers in the shortest form that reads
//! back to the same `f64` (`null` for NaN and infinities, which JSON lacks;
//! the evaluator reports those as errors before any output).

use serde_json::Value;
use sharegrad_core::eval::{Data, Results};
use std::collections::BTreeMap;

/// Reads a data file.
pub fn parse_data(text: &str) -> Result<Data, String> {
    // A byte-order mark (some Windows editors write one) is not JSON, but
    // it is not the user's data either; model files skip it too.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let UniqueKeys(v) = serde_json::from_str(text).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => format!("invalid data: {e}"),
        _ => format!("invalid JSON: {e}"),
    })?;
    let Value::Object(top) = v else {
        return Err(format!(
            "the data must be a JSON object with \"sizes\", \"tensors\" and \"seed\", not {}",
            kind(&v)
        ));
    };
    let mut data = Data::default();
    let mut seen_seed: Option<&str> = None;
    for (field, value) in &top {
        match field.as_str() {
            "sizes" => {
                for (name, x) in object(value, "sizes")? {
                    data.sizes.insert(name.clone(), size(name, x)?);
                }
            }
            "tensors" => data.tensors = arrays(value, "tensors", "tensor", &mut data.shapes)?,
            "seed" | "seeds" => {
                if let Some(other) = seen_seed {
                    return Err(format!("both \"{other}\" and \"{field}\" are given: use only \"seed\""));
                }
                seen_seed = Some(field);
                data.seeds = arrays(value, field, "seed", &mut data.shapes)?;
            }
            other => {
                return Err(format!(
                    "unknown field \"{other}\" in the data (expected \"sizes\", \"tensors\" and \"seed\")"
                ))
            }
        }
    }
    Ok(data)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn object<'v>(v: &'v Value, field: &str) -> Result<&'v serde_json::Map<String, Value>, String> {
    match v {
        Value::Object(m) => Ok(m),
        other => Err(format!(
            "\"{field}\" must be an object, not {}",
            kind(other)
        )),
    }
}

fn size(name: &str, x: &Value) -> Result<i64, String> {
    let bad = || format!("size `{name}` must be an integer, not {}", show(x));
    match x {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(i)
            } else {
                match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
                    Some(f) if f.fract() == 0.0 => Err(format!(
                        "size `{name}` = {} is too large (sizes are at most {})",
                        show(x),
                        i64::MAX
                    )),
                    _ => Err(bad()),
                }
            }
        }
        _ => Err(bad()),
    }
}

fn show(x: &Value) -> String {
    match x {
        Value::Number(_) | Value::Bool(_) | Value::Null => x.to_string(),
        Value::String(s) if s.chars().count() <= 20 => format!("the string {x}"),
        other => kind(other).to_string(),
    }
}

/// `{"key": number | array, ...}` into flat vectors; the nesting of nested
/// arrays goes into `shapes` (seeds' under `"seed KEY"`).
fn arrays(
    v: &Value,
    field: &str,
    what: &str,
    shapes: &mut BTreeMap<String, Vec<usize>>,
) -> Result<BTreeMap<String, Vec<f64>>, String> {
    let mut out = BTreeMap::new();
    for (key, x) in object(v, field)? {
        let mut flat = Vec::new();
        match x {
            Value::Number(_) | Value::Array(_) => {
                flatten(x, &mut flat, what, key)?;
                let shape = nesting(x).ok_or_else(|| {
                    format!("{what} `{key}`: its nested arrays are not all of one shape (ragged, or numbers next to arrays)")
                })?;
                if shape.len() >= 2 {
                    let name = if what == "seed" {
                        format!("seed {key}")
                    } else {
                        key.clone()
                    };
                    shapes.insert(name, shape);
                }
            }
            other => {
                return Err(format!(
                    "{what} `{key}` must be a number or an array of numbers, not {}",
                    show(other)
                ))
            }
        }
        out.insert(key.clone(), flat);
    }
    Ok(out)
}

/// The extents of nested arrays, outermost first (`[]` for a number); None
/// when siblings differ in shape.
fn nesting(x: &Value) -> Option<Vec<usize>> {
    match x {
        Value::Array(xs) => {
            let mut inner: Option<Vec<usize>> = None;
            for x in xs {
                let s = nesting(x)?;
                match &inner {
                    Some(i) if *i != s => return None,
                    Some(_) => {}
                    None => inner = Some(s),
                }
            }
            let mut shape = vec![xs.len()];
            shape.extend(inner.unwrap_or_default());
            Some(shape)
        }
        _ => Some(Vec::new()),
    }
}

fn flatten(x: &Value, out: &mut Vec<f64>, what: &str, key: &str) -> Result<(), String> {
    match x {
        Value::Number(n) => {
            let f = n
                .as_f64()
                .ok_or_else(|| format!("{what} `{key}`: {n} is not a finite number"))?;
            out.push(f);
            Ok(())
        }
        Value::Array(xs) => xs.iter().try_for_each(|x| flatten(x, out, what, key)),
        other => Err(format!(
            "{what} `{key}`: value {} is {}, expected a number",
            out.len(),
            show(other)
        )),
    }
}

/// Prints results as pretty JSON: `{"values": {...}, "grads": {...}}`.
pub fn results_to_json(r: &Results) -> String {
    let mut s = String::from("{\n");
    section(&mut s, "values", &r.values, r);
    s.push_str(",\n");
    section(&mut s, "grads", &r.grads, r);
    s.push_str("\n}");
    s
}

fn section(s: &mut String, name: &str, map: &BTreeMap<String, Vec<f64>>, r: &Results) {
    s.push_str(&format!("  \"{name}\": {{"));
    if map.is_empty() {
        s.push('}');
        return;
    }
    for (n, (key, vals)) in map.iter().enumerate() {
        s.push_str(if n == 0 { "\n    " } else { ",\n    " });
        s.push_str(&Value::String(key.clone()).to_string());
        s.push_str(": ");
        if r.scalar.contains(key) && vals.len() == 1 {
            number(s, vals[0]);
        } else {
            s.push('[');
            for (i, x) in vals.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                number(s, *x);
            }
            s.push(']');
        }
    }
    s.push_str("\n  }");
}

/// Shortest round-trip form (`1.0`, `0.1`, `1e-7`), `null` when not finite.
fn number(s: &mut String, x: f64) {
    match serde_json::Number::from_f64(x) {
        Some(n) => s.push_str(&n.to_string()),
        None => s.push_str("null"),
    }
}

/// A JSON value in which no object names a key twice: serde_json keeps the
/// last of two equal keys without a word, so `{"n": 3, "n": 4}` would
/// silently mean `n = 4`. Read in one pass, as serde_json's own `Value`.
struct UniqueKeys(Value);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys(Value::Bool(b)))
    }
    fn visit_i64<E>(self, x: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys(Value::from(x)))
    }
    fn visit_u64<E>(self, x: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys(Value::from(x)))
    }
    fn visit_f64<E>(self, x: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys(Value::from(x)))
    }
    fn visit_str<E>(self, x: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys(Value::String(x.to_owned())))
    }
    fn visit_string<E>(self, x: String) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys(Value::String(x)))
    }
    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys(Value::Null))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        let mut out = Vec::new();
        while let Some(UniqueKeys(x)) = seq.next_element()? {
            out.push(x);
        }
        Ok(UniqueKeys(Value::Array(out)))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(serde::de::Error::custom(format!(
                    "the key \"{key}\" appears twice in one object"
                )));
            }
            let UniqueKeys(x) = map.next_value()?;
            out.insert(key, x);
        }
        Ok(UniqueKeys(Value::Object(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_reference_example() {
        let d = parse_data(
            r#"{"sizes":   {"n": 6},
                "tensors": {"y^0": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], "w": [0.5, -1.0, 0.25, 2.0]},
                "seed":    {"y^2": [1.0, 0.0, 0.0, 0.0]}}"#,
        )
        .unwrap();
        assert_eq!(d.sizes["n"], 6);
        assert_eq!(d.tensors["y^0"], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
        assert_eq!(d.tensors["w"], [0.5, -1.0, 0.25, 2.0]);
        assert_eq!(d.seeds["y^2"], [1.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn scalars_nested_arrays_and_optional_fields() {
        let d = parse_data(
            r#"{"tensors": {"b": 2, "alpha": [1.5], "W": [[1, 2], [3, 4]]}, "seeds": {"E": 3.0}}"#,
        )
        .unwrap();
        assert!(d.sizes.is_empty());
        assert_eq!(d.tensors["b"], [2.0]);
        assert_eq!(d.tensors["alpha"], [1.5]);
        assert_eq!(d.tensors["W"], [1.0, 2.0, 3.0, 4.0]);
        // The nesting of nested arrays is kept for the check against the
        // ranges; flat arrays and numbers have none.
        assert_eq!(d.shapes["W"], [2, 2]);
        assert_eq!(d.shapes.len(), 1);
        assert_eq!(d.seeds["E"], [3.0]);
        assert_eq!(parse_data("{}").unwrap(), Data::default());
        assert_eq!(
            parse_data(r#"{"sizes": {"n": 4.0}}"#).unwrap().sizes["n"],
            4
        );
    }

    #[test]
    fn errors_name_the_key() {
        let err = |t: &str| parse_data(t).unwrap_err();
        assert!(err("{").starts_with("invalid JSON: "));
        assert!(err("[1]").starts_with("the data must be a JSON object"));
        assert_eq!(
            err(r#"{"sizes": {"n": 2.5}}"#),
            "size `n` must be an integer, not 2.5"
        );
        assert_eq!(
            err(r#"{"sizes": {"n": "6"}}"#),
            "size `n` must be an integer, not the string \"6\""
        );
        // Whole numbers beyond i64 are too large, not "not an integer".
        assert_eq!(
            err(r#"{"sizes": {"n": 1e23}}"#),
            format!(
                "size `n` = 1e+23 is too large (sizes are at most {})",
                i64::MAX
            )
        );
        assert_eq!(
            err(r#"{"sizes": {"n": 18446744073709551615}}"#),
            format!(
                "size `n` = 18446744073709551615 is too large (sizes are at most {})",
                i64::MAX
            )
        );
        // A byte-order mark before the JSON is skipped, as in model files.
        assert!(parse_data("\u{feff}{\"sizes\": {\"n\": 2}}").is_ok());
        assert_eq!(
            err(r#"{"sizes": [6]}"#),
            "\"sizes\" must be an object, not an array"
        );
        assert_eq!(
            err(r#"{"tensors": {"w": [1, "x", 3]}}"#),
            "tensor `w`: value 1 is the string \"x\", expected a number"
        );
        assert_eq!(
            err(r#"{"tensors": {"w": null}}"#),
            "tensor `w` must be a number or an array of numbers, not null"
        );
        assert_eq!(
            err(r#"{"seed": {"y": [true]}}"#),
            "seed `y`: value 0 is true, expected a number"
        );
        for ragged in [r#"[[1, 2], [3]]"#, r#"[[1, 2], 3, 4]"#] {
            assert_eq!(
                err(&format!(r#"{{"tensors": {{"W": {ragged}}}}}"#)),
                "tensor `W`: its nested arrays are not all of one shape (ragged, or numbers next to arrays)"
            );
        }
        let d = parse_data(r#"{"seed": {"y": [[1], [2]]}}"#).unwrap();
        assert_eq!(d.shapes["seed y"], [2, 1]);
        assert_eq!(
            err(r#"{"size": {"n": 1}}"#),
            "unknown field \"size\" in the data (expected \"sizes\", \"tensors\" and \"seed\")"
        );
        assert!(err(r#"{"seed": {}, "seeds": {}}"#).starts_with("both \"seed\" and \"seeds\""));
    }

    #[test]
    fn prints_sorted_keys_scalars_as_numbers_and_round_trips() {
        let mut r = Results::default();
        r.values.insert("y^2".into(), vec![0.1, -2.0, 1e-7]);
        r.values.insert("E".into(), vec![0.30000000000000004]);
        r.values.insert("x^1".into(), vec![]);
        r.grads.insert("w".into(), vec![1.0, f64::NAN]);
        r.grads.insert("b".into(), vec![3.0]);
        r.scalar.insert("E".into());
        r.scalar.insert("b".into());
        let text = results_to_json(&r);
        assert_eq!(
            text,
            r#"{
  "values": {
    "E": 0.30000000000000004,
    "x^1": [],
    "y^2": [0.1, -2.0, 1e-7]
  },
  "grads": {
    "b": 3.0,
    "w": [1.0, null]
  }
}"#
        );
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["values"]["E"].as_f64(), Some(0.30000000000000004));
        assert_eq!(back["values"]["y^2"][2].as_f64(), Some(1e-7));
        let empty = results_to_json(&Results::default());
        assert_eq!(empty, "{\n  \"values\": {},\n  \"grads\": {}\n}");
    }
}
