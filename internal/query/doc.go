// Package query implements LanceDB's query semantics over a table snapshot:
// the body of `POST /v1/table/{id}/query/` (and `explain_plan/`) parsed and
// validated exactly as the official client 0.39 sends it, exact (flat) and
// indexed vector search, filtered scans, projections with computed columns,
// and a readable plan for explain.
//
// # Use from the HTTP layer
//
//	cache := query.NewCache(4 << 30)          // once per process, shared by all queries
//	req, err := query.ParseRequest(body)      // errors.Is(err, query.ErrInvalidRequest) → 400
//	snap := ...                               // checkout req.Version (nil: latest)
//	opts := query.Options{Cache: cache, TableURI: uri, Indexes: mgr, Table: ref} // mgr, ref: internal/vindex
//	res, err := query.Execute(ctx, snap, req, opts)
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
// Without a vector index, vector search is exact: every live row of every
// fragment is compared, results are ordered by distance then row address,
// NaN distances (zero vectors under cosine, NaN components) and null vectors
// are dropped, and `lower_bound`/`upper_bound` keep distances in
// [lower, upper). With `prefilter` (the default) the filter selects the
// candidates before the top-k, so k results come back whenever k rows
// match; with prefilter false the top k+offset rows are found first and then
// filtered, so fewer may come back, as in LanceDB. `fast_search` searches
// only indexed rows: with no vector index it returns nothing, as LanceDB
// does on unindexed tables.
//
// # Vector indexes
//
// With Options.Indexes set, a search on a column with a vector index
// (internal/vindex) goes through it, as LanceDB's knn_combined does:
//
//   - the index answers for the fragments it covers, admitting only rows
//     that are live in the snapshot and, with a prefilter, match it (the
//     allow-list is evaluated lazily per fragment, over cached columns when
//     they fit); the index probes more partitions, up to maximum_nprobes,
//     while fewer than k rows survive;
//   - nprobes sets both minimum and maximum probes; minimum_nprobes and
//     maximum_nprobes (0: every partition) override it, as the 0.39 client
//     sends them; ef sizes the HNSW candidate list (default 1.5 × k);
//   - refine_factor r fetches k × r candidates and re-ranks them by exact
//     distance over the stored vectors (from the vector cache when it holds
//     them, else read by row address); without it `_distance` is the
//     index's approximate distance (exact for IVF_FLAT), as in LanceDB;
//     refine_factor 0 is refused;
//   - fragments the index does not cover (appended since the build) are
//     searched exactly with the index's metric and merged, unless
//     fast_search, which returns indexed rows only;
//   - lower_bound/upper_bound apply to the final (refined) distances, so an
//     indexed search with a range may return fewer than k rows;
//   - with no distance_type the index's metric is used; a distance_type
//     other than the index's makes the search exact with the metric asked
//     for (vindex reports the mismatch as "no usable index", as Lance does
//     since lance#5609); bypass_vector_index always searches exactly.
//
// explain_plan shows the index used (name, type, metric, probes, ef,
// refine) beside the exact search of the unindexed rows.
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
