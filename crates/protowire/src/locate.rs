//! Finds the field where a protobuf message stops decoding, for error messages: prost
//! says *what* went wrong ("buffer underflow") but not *where*.

use prost_reflect::{Kind, MessageDescriptor};

/// Deeper than prost's own recursion limit, so never reached for input prost accepted.
const MAX_DEPTH: usize = 128;

/// The dotted field path (`spec.template.metadata`) at which `bytes` is not a valid
/// encoding of `desc`, or `None` if the failure is not tied to a field.
pub(crate) fn failing_field(desc: &MessageDescriptor, bytes: &[u8]) -> Option<String> {
    walk(desc, bytes, 0).err().filter(|path| !path.is_empty())
}

/// `Err(path)` at the first problem; the path is empty when the problem is in `desc`'s
/// own framing (not inside a field).
fn walk(desc: &MessageDescriptor, mut buf: &[u8], depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(String::new());
    }
    while !buf.is_empty() {
        let key = prost::encoding::decode_varint(&mut buf).map_err(|_| String::new())?;
        let number = u32::try_from(key >> 3).map_err(|_| String::new())?;
        let field = desc.get_field(number);
        let name = field
            .as_ref()
            .map_or_else(|| format!("<field {number}>"), |f| f.name().to_owned());
        let kind = field.as_ref().map(|f| f.kind());
        let is_map = field.as_ref().is_some_and(|f| f.is_map());
        let is_list = field.as_ref().is_some_and(|f| f.is_list());
        match key & 7 {
            0 => {
                prost::encoding::decode_varint(&mut buf).map_err(|_| name.clone())?;
                if !matches!(
                    kind,
                    None | Some(
                        Kind::Int32
                            | Kind::Int64
                            | Kind::Uint32
                            | Kind::Uint64
                            | Kind::Sint32
                            | Kind::Sint64
                            | Kind::Bool
                            | Kind::Enum(_)
                    )
                ) {
                    return Err(name);
                }
            }
            1 => {
                buf = skip(buf, 8, &kind, |k| {
                    matches!(k, Kind::Fixed64 | Kind::Sfixed64 | Kind::Double)
                })
                .ok_or(name)?
            }
            5 => {
                buf = skip(buf, 4, &kind, |k| {
                    matches!(k, Kind::Fixed32 | Kind::Sfixed32 | Kind::Float)
                })
                .ok_or(name)?
            }
            2 => {
                let len = prost::encoding::decode_varint(&mut buf).map_err(|_| name.clone())?;
                let len = usize::try_from(len)
                    .ok()
                    .filter(|l| *l <= buf.len())
                    .ok_or_else(|| name.clone())?;
                let (content, rest) = buf.split_at(len);
                buf = rest;
                match &kind {
                    Some(Kind::Message(inner)) => {
                        walk(inner, content, depth + 1).map_err(|p| join(&name, &p, is_map))?
                    }
                    Some(Kind::String) if std::str::from_utf8(content).is_err() => {
                        return Err(name)
                    }
                    Some(Kind::String | Kind::Bytes) | None => {}
                    // Only a repeated scalar may be packed into one length-delimited run.
                    Some(_) if is_list => {}
                    Some(_) => return Err(name),
                }
            }
            _ => return Err(name),
        }
    }
    Ok(())
}

/// Skips `n` bytes of a fixed-width value if the field may have that width.
fn skip<'a>(
    buf: &'a [u8],
    n: usize,
    kind: &Option<Kind>,
    fits: impl Fn(&Kind) -> bool,
) -> Option<&'a [u8]> {
    if kind.as_ref().is_some_and(|k| !fits(k)) {
        return None;
    }
    buf.get(n..)
}

fn join(outer: &str, inner: &str, is_map: bool) -> String {
    // A map entry is a message {key, value}: name the problem after the map itself.
    let inner = if is_map {
        inner
            .strip_prefix("value")
            .map_or(inner, |rest| rest.trim_start_matches('.'))
    } else {
        inner
    };
    if inner.is_empty() {
        outer.to_owned()
    } else {
        format!("{outer}.{inner}")
    }
}
