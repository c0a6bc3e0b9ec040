package app

import (
	"context"
	"fmt"
	"slices"
)

// Modules are the building blocks of a target. A target is itself a module
// whose dependencies are the roles it runs, so `--target all` is not a
// special code path: it is the module that depends on every role. The
// distributed targets (query, executor, agent, indexer) will be further
// modules over the same parts.
const (
	modMetrics = "metrics" // Prometheus registry with Go and process collectors
	modCatalog = "catalog" // database name → storage location → tables
	modIndexes = "indexes" // vector index builds, catalog and partition cache
	modAPI     = "api"     // LanceDB REST handler
	modServer  = "server"  // HTTP listener, health, metrics endpoint
)

// module is one node of the dependency graph. init builds the module's
// part of the node; run, if set, is a service that runs until ctx ends.
type module struct {
	deps []string
	init func(ctx context.Context, n *node) error
	run  func(ctx context.Context, n *node) error
}

// moduleGraph returns the modules and targets of this build.
func moduleGraph() map[string]module {
	return map[string]module{
		modMetrics: {init: initMetrics},
		modCatalog: {deps: []string{modMetrics}, init: initCatalog},
		modIndexes: {init: initIndexes},
		modAPI:     {deps: []string{modCatalog, modIndexes, modMetrics}, init: initAPI},
		modServer:  {deps: []string{modAPI, modMetrics}, init: initServer, run: runServer},
		TargetAll:  {deps: []string{modServer}},
	}
}

// resolve returns the modules target needs, dependencies first.
func resolve(graph map[string]module, target string) ([]string, error) {
	var order []string
	state := map[string]int{} // 1: visiting, 2: done
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		m, ok := graph[name]
		if !ok {
			return fmt.Errorf("unknown module %q (needed by %v)", name, path)
		}
		switch state[name] {
		case 1:
			return fmt.Errorf("module dependency cycle: %v", append(path, name))
		case 2:
			return nil
		}
		state[name] = 1
		for _, d := range m.deps {
			if err := visit(d, append(slices.Clone(path), name)); err != nil {
				return err
			}
		}
		state[name] = 2
		order = append(order, name)
		return nil
	}
	if err := visit(target, nil); err != nil {
		return nil, err
	}
	return order, nil
}
