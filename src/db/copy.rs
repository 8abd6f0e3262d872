//! Rows sent to PostgreSQL as a binary `COPY` stream, for values too large
//! to bind as parameters. A bound value is copied whole twice (into the
//! bind buffer, then into libpq's output buffer, which grows to the largest
//! message sent and never shrinks: every pooled connection that once sent a
//! 10 MiB document would keep 10 MiB for its life). A stream goes out in
//! pieces of [`PIECE`] bytes, through a buffer that stays small.

use std::io::{Error, ErrorKind, Write};

use chrono::{NaiveDate, NaiveDateTime};

/// Bytes handed to libpq at a time (it sends what it holds past 8 KiB).
const PIECE: usize = 8 * 1024;

/// The signature that opens a binary `COPY` stream.
const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// One field of a row, as its column's type reads it.
#[derive(Debug, Clone, Copy)]
pub enum Field<'a> {
    Text(&'a str),
    BigInt(i64),
    Bytes(&'a [u8]),
    /// `TIMESTAMP` (without time zone).
    Timestamp(NaiveDateTime),
    Null,
}

/// Writes a whole binary `COPY` stream of one row: header, fields, trailer.
pub fn write_row(out: &mut dyn Write, fields: &[Field<'_>]) -> std::io::Result<()> {
    let mut pending = Vec::with_capacity(256);
    pending.extend_from_slice(SIGNATURE);
    pending.extend_from_slice(&0i32.to_be_bytes()); // flags
    pending.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    let count = i16::try_from(fields.len()).map_err(|_| invalid("too many fields"))?;
    pending.extend_from_slice(&count.to_be_bytes());
    for field in fields {
        match *field {
            Field::Text(text) => put(&mut pending, out, text.as_bytes())?,
            Field::Bytes(bytes) => put(&mut pending, out, bytes)?,
            Field::BigInt(n) => put(&mut pending, out, &n.to_be_bytes())?,
            Field::Timestamp(at) => {
                let micros = (at - postgres_epoch())
                    .num_microseconds()
                    .ok_or_else(|| invalid("timestamp out of range"))?;
                put(&mut pending, out, &micros.to_be_bytes())?;
            }
            Field::Null => pending.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    pending.extend_from_slice(&(-1i16).to_be_bytes()); // end of the stream
    out.write_all(&pending)
}

/// A field's length then its bytes; large ones go out in pieces, after
/// what was pending.
fn put(pending: &mut Vec<u8>, out: &mut dyn Write, bytes: &[u8]) -> std::io::Result<()> {
    let len = i32::try_from(bytes.len()).map_err(|_| invalid("field over 2 GiB"))?;
    pending.extend_from_slice(&len.to_be_bytes());
    if bytes.len() <= PIECE {
        pending.extend_from_slice(bytes);
        return Ok(());
    }
    out.write_all(pending)?;
    pending.clear();
    bytes
        .chunks(PIECE)
        .try_for_each(|piece| out.write_all(piece))
}

fn postgres_epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2000, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default()
}

fn invalid(what: &str) -> Error {
    Error::new(ErrorKind::InvalidInput, what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records the size of every write.
    #[derive(Default)]
    struct Sink {
        bytes: Vec<u8>,
        largest_write: usize,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.largest_write = self.largest_write.max(buf.len());
            self.bytes.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_row_is_framed_as_postgresql_reads_it_and_large_fields_go_in_pieces() {
        let big = vec![7u8; 100_000];
        let at = NaiveDate::from_ymd_opt(2000, 1, 2)
            .unwrap()
            .and_hms_opt(0, 0, 1)
            .unwrap();
        let mut sink = Sink::default();
        let fields = [
            Field::Text("ab"),
            Field::BigInt(5),
            Field::Bytes(&big),
            Field::Timestamp(at),
            Field::Null,
        ];
        write_row(&mut sink, &fields).unwrap();
        assert!(sink.largest_write <= PIECE, "{}", sink.largest_write);
        let b = &sink.bytes;
        assert_eq!(&b[..11], SIGNATURE);
        assert_eq!(&b[11..19], &[0; 8]);
        assert_eq!(&b[19..21], &5i16.to_be_bytes());
        assert_eq!(&b[21..27], &[0, 0, 0, 2, b'a', b'b']);
        assert_eq!(&b[27..39], &[0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 5]);
        assert_eq!(&b[39..43], &100_000i32.to_be_bytes());
        let rest = &b[43 + 100_000..];
        let micros: i64 = 86_401 * 1_000_000;
        assert_eq!(&rest[..4], &8i32.to_be_bytes());
        assert_eq!(&rest[4..12], &micros.to_be_bytes());
        assert_eq!(&rest[12..], &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    }
}
