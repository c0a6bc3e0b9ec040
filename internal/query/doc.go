// Package query implements LanceDB's query semantics over a table snapshot:
// the body of `POST /v1/table/{id}/query/` (and `explain_plan/`) parsed and
// validated exactly as the official client 0.39 sends it, exact (flat)
// vector search, filtered scans, projections with computed columns, and a
// readable plan for explain.
//
// # Use from the HTTP layer
//
//	cache := query.NewCache(4 << 30)          // once per process, shared by all queries
//	req, err := query.ParseRequest(body)      // errors.Is(err, query.ErrInvalidRequest) → 400
//	snap := ...                               // checkout req.Version (nil: latest)
//	res, err := query.Execute(ctx, snap, req, query.Options{Cache: cache, TableURI: uri})
//	defer res.Release()                       // write res.Schema + res.Batches as one Arrow IPC file
//
// Every error that blames the request (bad JSON, unknown or mistyped fields,
// unknown columns, bad filters and expressions, dimension mismatches,
// unsupported features such as full-text search) wraps ErrInvalidRequest.
// Other errors are storage or internal failures. Execute honours ctx
// cancellation (the REST layer's x-request-timeout-ms).
//
// # Results
//
// Columns come in the order LanceDB returns them: `query_index` (Int32) first
// for multi-vector queries; then the selected columns (all table columns when
// `columns` is absent; the list or the name → SQL expression map in the order
// given); then `_distance` (Float32) for vector queries unless the selection
// placed it; then `_rowid` (UInt64 row address) when `with_row_id` is set.
// `_rowid`, `_rowoffset` and `_distance` may also be named in `columns` to
// place them explicitly, and `_rowid`/`_rowoffset` may appear in filters.
//
// Vector search is exact: every live row of every fragment is compared,
// results are ordered by distance then row address, NaN distances (zero
// vectors under cosine, NaN components) and null vectors are dropped, and
// `lower_bound`/`upper_bound` keep distances in [lower, upper). With
// `prefilter` (the default) the filter selects the candidates before the
// top-k, so k results come back whenever k rows match; with prefilter false
// the top k+offset rows are found first and then filtered, so fewer may come
// back, as in LanceDB. `fast_search` searches only indexed rows: with no
// vector index yet, it returns nothing, as LanceDB does on unindexed tables.
// Index tuning fields (nprobes, ef, refine_factor, bypass_vector_index) are
// accepted and do not change exact results.
//
// # Vector cache
//
// Scanning a Lance file per query costs far more than the search itself, so
// decoded vector columns are kept in a Cache: an LRU bounded by bytes, shared
// by all queries and tables. Entries are keyed by (Options.TableURI, data
// file path, field id). Lance data files are immutable and uniquely named, so
// an entry never goes stale; deletions are applied per query from the
// fragment's deletion file, which is cached by its own identity. TableURI
// must identify the table's storage unambiguously (the full location URL,
// including account/bucket), so that tables of different tenants never share
// entries; with an empty TableURI or a nil Cache nothing is cached.
//
// Fixed-width scalar columns that filters and results read are cached the
// same way (each at most 1/8 of the budget per data file), so a warm vector
// search reads nothing from storage unless it returns variable-width columns
// (strings, lists), which are fetched row by row. The searched vector column
// itself is returned from the in-memory vectors.
package query
