// Package file reads and writes Lance data files in file format 2.0 (the
// format LanceDB tables with data_storage_version "2.0" use; the footer of
// such a file says version 0.3).
//
// A file is a sequence of 64-byte aligned data buffers grouped into pages
// (one column per page, no row groups), followed by global buffer 0 (a
// lance.file.FileDescriptor: schema and row count), one ColumnMetadata
// protobuf per column, two offset tables and a 40-byte footer ending in
// "LANC". docs/format/lance-file.md describes the layout we write.
//
// Columns follow the schema depth-first: every Lance field occupies exactly
// one column for the types this package writes. A struct field's own column
// holds a single empty "SimpleStruct" page; a list field's column holds the
// list offsets and its item field follows in the next column(s).
//
// The writer emits exactly the encodings the Rust 2.0 writer chooses for
// these types, so stock Lance readers read our files; the reader decodes
// everything the Rust 2.0 writer emits, including dictionary-encoded string
// pages and zstd/lz4-compressed string bytes.
package file
