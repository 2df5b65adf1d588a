//! The plugin configuration as a `google.protobuf.Struct`. Envoy hands a Struct-typed
//! `configuration` to the plugin as the serialized message; `decode` reads it into the JSON value
//! the same configuration written as JSON text gives, so both forms load alike.
//!
//! The wire format, for the three messages of `google/protobuf/struct.proto`:
//!   Struct    { map<string, Value> fields = 1; }   (each entry: string key = 1, Value value = 2)
//!   Value     { oneof kind { NullValue null_value = 1; double number_value = 2;
//!               string string_value = 3; bool bool_value = 4; Struct struct_value = 5;
//!               ListValue list_value = 6; } }
//!   ListValue { repeated Value values = 1; }
//! Unknown fields are skipped, as protobuf readers do. Every length is checked against the bytes
//! that remain, and nesting is bounded, so no input allocates more than its own size suggests or
//! recurses deeply.

use super::error::{shown_key, ConfigError};
use serde_json::{Map, Number, Value};

/// Structs and lists inside one another, the top-level Struct included. JSON text has its own
/// bound (serde_json's, 128), above this one, so a Struct that decodes also parses as JSON text.
pub const MAX_DEPTH: usize = 100;

/// The Struct as a JSON object. Numbers arrive as doubles: a whole one (within the integer
/// range) becomes a JSON integer, so `1500` in YAML loads as `1500` does in JSON text.
pub fn decode(bytes: &[u8]) -> Result<Value, ConfigError> {
    read_struct(bytes, 1)
        .map(Value::Object)
        .map_err(WireError::into_config_error)
}

/// The JSON value as a Struct: the inverse of `decode` for a JSON object, for tests and fuzzing
/// (the filter only decodes). Numbers become doubles, as Envoy's YAML loader makes them.
pub fn encode(object: &Map<String, Value>) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in object {
        let mut entry = Vec::new();
        put_len(&mut entry, 1, key.as_bytes());
        put_len(&mut entry, 2, &encode_value(value));
        put_len(&mut out, 1, &entry);
    }
    out
}

fn encode_value(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    match value {
        Value::Null => {
            put_varint(&mut out, tag(1, VARINT));
            put_varint(&mut out, 0);
        }
        Value::Number(n) => {
            put_varint(&mut out, tag(2, I64));
            out.extend_from_slice(&n.as_f64().unwrap_or(f64::NAN).to_le_bytes());
        }
        Value::String(s) => put_len(&mut out, 3, s.as_bytes()),
        Value::Bool(b) => {
            put_varint(&mut out, tag(4, VARINT));
            put_varint(&mut out, u64::from(*b));
        }
        Value::Object(map) => put_len(&mut out, 5, &encode(map)),
        Value::Array(items) => {
            let mut list = Vec::new();
            for item in items {
                put_len(&mut list, 1, &encode_value(item));
            }
            put_len(&mut out, 6, &list);
        }
    }
    out
}

fn tag(field: u64, wire_type: u64) -> u64 {
    field << 3 | wire_type
}

fn put_len(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_varint(out, tag(field, LEN));
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

const VARINT: u64 = 0;
const I64: u64 = 1;
const LEN: u64 = 2;
const I32: u64 = 5;

/// Where decoding failed: the reason, and the path to it, innermost first (each level adds its
/// own part on the way out).
struct WireError {
    reason: String,
    path: Vec<Segment>,
}

enum Segment {
    Key(String),
    Index(usize),
}

impl WireError {
    fn new(reason: impl Into<String>) -> Self {
        WireError {
            reason: reason.into(),
            path: Vec::new(),
        }
    }

    fn at(mut self, segment: Segment) -> Self {
        self.path.push(segment);
        self
    }

    /// Named like a JSON configuration's errors: `model_list[0].litellm_params`.
    fn into_config_error(self) -> ConfigError {
        let mut field = String::new();
        for segment in self.path.iter().rev() {
            match segment {
                Segment::Index(index) => field.push_str(&format!("[{index}]")),
                Segment::Key(key) => {
                    if !field.is_empty() {
                        field.push('.');
                    }
                    field.push_str(&shown_key(key));
                }
            }
        }
        if field.is_empty() {
            field.push_str("(top level)");
        }
        ConfigError::new(
            field,
            format!("not a valid google.protobuf.Struct: {}", self.reason),
        )
    }
}

type Wire<T> = Result<T, WireError>;

/// A cursor over one message's bytes.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn take(&mut self, n: usize) -> Wire<&'a [u8]> {
        if n > self.bytes.len() {
            return Err(WireError::new("truncated"));
        }
        let (taken, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(taken)
    }

    fn varint(&mut self) -> Wire<u64> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let &[byte] = self.take(1)? else {
                return Err(WireError::new("truncated"));
            };
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(WireError::new("a varint longer than 64 bits"));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(WireError::new("a varint longer than 10 bytes"))
    }

    /// A field's number and wire type.
    fn tag(&mut self) -> Wire<(u64, u64)> {
        let tag = self.varint()?;
        let field = tag >> 3;
        if field == 0 {
            return Err(WireError::new("field number 0"));
        }
        Ok((field, tag & 7))
    }

    fn length_delimited(&mut self) -> Wire<&'a [u8]> {
        let length = self.varint()?;
        let length = usize::try_from(length).map_err(|_| WireError::new("truncated"))?;
        self.take(length)
    }

    fn fixed64(&mut self) -> Wire<u64> {
        let bytes: [u8; 8] = self
            .take(8)?
            .try_into()
            .map_err(|_| WireError::new("truncated"))?;
        Ok(u64::from_le_bytes(bytes))
    }

    /// Passes over a field this reader does not know (groups are refused: proto3 has none).
    fn skip(&mut self, wire_type: u64) -> Wire<()> {
        match wire_type {
            VARINT => self.varint().map(drop),
            I64 => self.take(8).map(drop),
            LEN => self.length_delimited().map(drop),
            I32 => self.take(4).map(drop),
            other => Err(WireError::new(format!("wire type {other}"))),
        }
    }
}

/// A field this reader knows must come with its wire type.
fn wire_type_is(field: u64, wire_type: u64, expected: u64) -> Wire<()> {
    if wire_type == expected {
        Ok(())
    } else {
        Err(WireError::new(format!(
            "field {field} has wire type {wire_type}, expected {expected}"
        )))
    }
}

fn read_struct(bytes: &[u8], depth: usize) -> Wire<Map<String, Value>> {
    let mut fields = Map::new();
    for_each_repeated_message(bytes, depth, |entry| {
        let (key, value) = read_entry(entry, depth)?;
        if fields.contains_key(&key) {
            return Err(WireError::new("the key is given twice").at(Segment::Key(key)));
        }
        fields.insert(key, value);
        Ok(())
    })?;
    Ok(fields)
}

/// Struct's `fields` and ListValue's `values` are both the repeated message field 1 of a
/// message nested `depth` deep; other fields are skipped.
fn for_each_repeated_message<'b>(
    bytes: &'b [u8],
    depth: usize,
    mut each: impl FnMut(&'b [u8]) -> Wire<()>,
) -> Wire<()> {
    if depth > MAX_DEPTH {
        return Err(WireError::new(format!(
            "nested more than {MAX_DEPTH} levels deep"
        )));
    }
    let mut reader = Reader::new(bytes);
    while !reader.is_empty() {
        let (field, wire_type) = reader.tag()?;
        if field != 1 {
            reader.skip(wire_type)?;
            continue;
        }
        wire_type_is(field, wire_type, LEN)?;
        each(reader.length_delimited()?)?;
    }
    Ok(())
}

/// One `fields` entry: its key (default "") and its value, in either order.
fn read_entry(bytes: &[u8], depth: usize) -> Wire<(String, Value)> {
    let mut reader = Reader::new(bytes);
    let mut key = String::new();
    let mut value = None;
    while !reader.is_empty() {
        match reader.tag()? {
            (1, wire_type) => {
                wire_type_is(1, wire_type, LEN)?;
                key = utf8(reader.length_delimited()?)?;
            }
            (2, wire_type) => {
                wire_type_is(2, wire_type, LEN)?;
                value = Some(reader.length_delimited()?);
            }
            (_, wire_type) => reader.skip(wire_type)?,
        }
    }
    match read_value(value.unwrap_or_default(), depth) {
        Ok(value) => Ok((key, value)),
        Err(e) => Err(e.at(Segment::Key(key))),
    }
}

/// A Value's kind; when several are given the last counts, as in protobuf.
enum Kind<'a> {
    Null,
    Number(f64),
    String(&'a [u8]),
    Bool(bool),
    Struct(&'a [u8]),
    List(&'a [u8]),
}

fn read_value(bytes: &[u8], depth: usize) -> Wire<Value> {
    let mut reader = Reader::new(bytes);
    let mut kind = None;
    while !reader.is_empty() {
        let (field, wire_type) = reader.tag()?;
        let expected = match field {
            1 | 4 => VARINT,
            2 => I64,
            3 | 5 | 6 => LEN,
            _ => {
                reader.skip(wire_type)?;
                continue;
            }
        };
        wire_type_is(field, wire_type, expected)?;
        kind = Some(match field {
            1 => {
                reader.varint()?;
                Kind::Null
            }
            2 => Kind::Number(f64::from_bits(reader.fixed64()?)),
            3 => Kind::String(reader.length_delimited()?),
            4 => Kind::Bool(reader.varint()? != 0),
            5 => Kind::Struct(reader.length_delimited()?),
            _ => Kind::List(reader.length_delimited()?),
        });
    }
    match kind {
        None => Err(WireError::new("a value with no kind set")),
        Some(Kind::Null) => Ok(Value::Null),
        Some(Kind::Number(n)) => number(n).map(Value::Number),
        Some(Kind::String(s)) => utf8(s).map(Value::String),
        Some(Kind::Bool(b)) => Ok(Value::Bool(b)),
        Some(Kind::Struct(s)) => read_struct(s, depth + 1).map(Value::Object),
        Some(Kind::List(l)) => read_list(l, depth + 1).map(Value::Array),
    }
}

fn read_list(bytes: &[u8], depth: usize) -> Wire<Vec<Value>> {
    let mut values = Vec::new();
    for_each_repeated_message(bytes, depth, |item| {
        let value = read_value(item, depth).map_err(|e| e.at(Segment::Index(values.len())))?;
        values.push(value);
        Ok(())
    })?;
    Ok(values)
}

fn utf8(bytes: &[u8]) -> Wire<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| WireError::new("a string that is not UTF-8"))
}

/// 2^64 and 2^63 as doubles: the bounds of the integers a whole double is read as.
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

/// A double as JSON text would have given it: a whole number in the integer range as an integer,
/// anything else finite as a float.
fn number(n: f64) -> Wire<Number> {
    if n.fract() == 0.0 {
        if (0.0..TWO_POW_64).contains(&n) {
            return Ok(Number::from(n as u64));
        }
        if (-TWO_POW_63..0.0).contains(&n) {
            return Ok(Number::from(n as i64));
        }
    }
    Number::from_f64(n).ok_or_else(|| WireError::new("a number that is not finite"))
}

#[cfg(test)]
mod tests;
