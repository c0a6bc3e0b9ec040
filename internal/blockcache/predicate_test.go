package blockcache

import (
	"testing"

	"github.com/sarissa-db/sarissa/internal/index/ivf"
)

func TestLanceImmutable(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		// Data files, at the bucket root and under table roots.
		{"data/0110100011000001011001012bd5d6d5c3c74cd1b2b0d2a0e7.lance", true},
		{"db/t.lance/data/0110100011000001011001012bd5d6d5c3c74cd1b2b0d2a0e7.lance", true},
		{"data/.lance", false},
		{"data/.tmp_x.lance", false},
		{"data/x.lance.tmp", false},
		{"data/sub/x.lance", false},
		{"data", false},
		{"x.lance", false},

		// Deletion and transaction files.
		{"t.lance/_deletions/3-7-12345.arrow", true},
		{"t.lance/_deletions/3-7-12345.bin", true},
		{"t.lance/_transactions/6-8d1c0a3e-0000-4000-8000-000000000000.txn", true},
		{"t.lance/_transactions/.tmp_6-x.txn", false},

		// Manifests: committed V1 and V2 names only.
		{"t.lance/_versions/12.manifest", true},
		{"t.lance/_versions/18446744073709551614.manifest", true},
		{"t.lance/_versions/_latest.manifest", false},
		{"t.lance/_versions/12.manifest-0f0f", false},
		{"t.lance/_versions/d9223372036854775809.manifest", false},
		{"t.lance/_versions/.tmp_12.manifest_9c10", false},
		{"t.lance/_versions/.manifest", false},

		// Sarissa's index catalog and segment files.
		{"t.lance/_sarissa_indices/_catalog/18446744073709551614.json", true},
		{"_sarissa_indices/_catalog/18446744073709551614.json", true},
		{"t.lance/_sarissa_indices/_catalog/1.json", false},
		{"t.lance/_sarissa_indices/_catalog/1844674407370955161x.json", false},
		{"t.lance/other/_catalog/18446744073709551614.json", false},
		{"t.lance/" + ivf.FileKey("vec_idx", "8d1c0a3e-0000-4000-8000-000000000000"), true},
		{ivf.FileKey("vec_idx", "8d1c0a3e-0000-4000-8000-000000000000"), true},
		{"t.lance/_sarissa_indices/vec_idx/8d1c/index.ivf.tmp", false},
		{"t.lance/_sarissa_indices/_catalog/x/index.ivf", false},
		{"t.lance/_sarissa_indices/vec_idx/pointer.json", false},
		{"t.lance/_sarissa_indices/vec_idx/index.ivf", false},
		{"t.lance/_sarissa_indices/vec_idx/u/.index.ivf", false},
		{"t.lance/elsewhere/vec_idx/u/index.ivf", false},

		// Mutable or unknown.
		{"t.lance/_refs/tags/v1.json", false},
		{"t.lance/_indices/u/index.idx", false},
		{"t.lance/_latest.manifest", false},
		{"catalog.json", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := LanceImmutable(tc.key); got != tc.want {
			t.Errorf("LanceImmutable(%q) = %v, want %v", tc.key, got, tc.want)
		}
	}
}

func TestIndexDirMatchesIVF(t *testing.T) {
	if indexDir != ivf.IndexDir {
		t.Fatalf("indexDir %q, ivf.IndexDir %q", indexDir, ivf.IndexDir)
	}
}
