//! A deliberately tiny DER reader/writer: just enough to splice names into a
//! TBSCertificate and to wrap legacy key encodings into PKCS#8. Only
//! single-byte tags and definite lengths (which is all DER has).

use thiserror::Error;

pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const SET: u8 = 0x31;
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const BIT_STRING: u8 = 0x03;
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const OID: u8 = 0x06;
pub(crate) const UTF8_STRING: u8 = 0x0c;
/// `[0] EXPLICIT`, constructed: the TBSCertificate version and the SEC1
/// `parameters` field.
pub(crate) const CONTEXT_0: u8 = 0xa0;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("malformed DER: {0}")]
pub struct DerError(pub(crate) &'static str);

/// One element: its tag, its content, and the whole encoding (`raw`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    pub tag: u8,
    pub content: &'a [u8],
    pub raw: &'a [u8],
}

/// Reads one element from the front of `input`, returning it and the rest.
pub(crate) fn read(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), DerError> {
    let (&tag, after_tag) = input.split_first().ok_or(DerError("empty input"))?;
    if tag & 0x1f == 0x1f {
        return Err(DerError("multi-byte tags are not supported"));
    }
    let (&first, after_len) = after_tag.split_first().ok_or(DerError("missing length"))?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err(DerError("unsupported length encoding"));
        }
        let bytes = after_len.get(..n).ok_or(DerError("truncated length"))?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, 2 + n)
    };
    let end = header.checked_add(len).ok_or(DerError("length overflow"))?;
    let raw = input.get(..end).ok_or(DerError("truncated element"))?;
    let content = raw.get(header..).ok_or(DerError("truncated element"))?;
    let rest = input.get(end..).ok_or(DerError("truncated element"))?;
    Ok((Tlv { tag, content, raw }, rest))
}

/// Reads exactly one element that spans all of `input`.
pub(crate) fn read_exact(input: &[u8], tag: u8) -> Result<Tlv<'_>, DerError> {
    let (tlv, rest) = read(input)?;
    if !rest.is_empty() {
        return Err(DerError("trailing bytes after element"));
    }
    if tlv.tag != tag {
        return Err(DerError("unexpected tag"));
    }
    Ok(tlv)
}

/// The elements inside a constructed element's content.
pub(crate) fn children(mut content: &[u8]) -> Result<Vec<Tlv<'_>>, DerError> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let (tlv, rest) = read(content)?;
        out.push(tlv);
        content = rest;
    }
    Ok(out)
}

/// Encodes one element.
pub(crate) fn encode(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        // Fits in the short form by the check above.
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = &bytes[skip..];
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
    out
}

/// Encodes a constructed element from already-encoded parts.
pub(crate) fn encode_parts(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    encode(tag, &parts.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_short_and_long_lengths() {
        for len in [0usize, 1, 127, 128, 255, 256, 65_535, 70_000] {
            let content = vec![0xab; len];
            let enc = encode(OCTET_STRING, &content);
            let tlv = read_exact(&enc, OCTET_STRING).unwrap();
            assert_eq!(tlv.content.len(), len, "len {len}");
            assert_eq!(tlv.raw, &enc[..]);
        }
    }

    #[test]
    fn rejects_truncated_and_trailing() {
        let enc = encode(SEQUENCE, &[1, 2, 3]);
        assert!(read(&enc[..enc.len() - 1]).is_err());
        let mut longer = enc.clone();
        longer.push(0);
        assert!(read_exact(&longer, SEQUENCE).is_err());
        assert!(read(&[]).is_err());
        assert!(read(&[0x1f, 0x01, 0x00]).is_err());
    }

    #[test]
    fn children_splits_sequence() {
        let a = encode(INTEGER, &[1]);
        let b = encode(UTF8_STRING, b"x");
        let seq = encode_parts(SEQUENCE, &[&a, &b]);
        let outer = read_exact(&seq, SEQUENCE).unwrap();
        let kids = children(outer.content).unwrap();
        assert_eq!(kids.len(), 2);
        assert_eq!(kids[0].raw, &a[..]);
        assert_eq!(kids[1].content, b"x");
    }
}
