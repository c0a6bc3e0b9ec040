package app

import (
	"context"
	"fmt"
	"slices"
)

// Modules are the building blocks of a target. A target is itself a module
// whose dependencies are the roles it runs, so `--target all` is not a
// special code path: it is the module that depends on every role, with the
// in-process transports (the local fleet, the memory event bus) where the
// split targets use the network.
const (
	modMetrics     = "metrics"      // Prometheus registry with Go and process collectors
	modBlockCache  = "block-cache"  // memory and disk tiers in front of blob storage (reading roles)
	modCatalog     = "catalog"      // database name → storage location → tables
	modIndexes     = "indexes"      // vector index catalog, builds and partition cache
	modQueryCache  = "query-cache"  // decoded columns shared by queries or tasks
	modEvents      = "events"       // write-event publisher (and the in-process bus)
	modFleet       = "fleet"        // the query node's client of the plan executors
	modAPI         = "api"          // LanceDB REST handler
	modServer      = "server"       // HTTP listener of the REST API, health, metrics
	modFlight      = "flight"       // a plan executor's Arrow Flight service
	modAgent       = "lance-agent"  // the Lance Agent and its job launcher
	modAdminServer = "admin-server" // HTTP listener of roles without the REST API: health, metrics, agent state
	modJobPool     = "job-pool"     // an indexer node's jobs, launched by an agent over HTTP
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
		modMetrics:     {init: initMetrics},
		modBlockCache:  {deps: []string{modMetrics}, init: initBlockCache},
		modCatalog:     {deps: []string{modMetrics}, init: initCatalog},
		modIndexes:     {init: initIndexes},
		modQueryCache:  {init: initQueryCache},
		modEvents:      {deps: []string{modMetrics}, init: initEvents},
		modFleet:       {deps: []string{modMetrics}, init: initFleet, run: runFleet},
		modAPI:         {deps: []string{modCatalog, modIndexes, modQueryCache, modEvents, modMetrics}, init: initAPI},
		modServer:      {deps: []string{modAPI, modMetrics}, init: initServer, run: runServer},
		modFlight:      {deps: []string{modCatalog, modIndexes, modQueryCache, modMetrics}, init: initFlight, run: runFlight},
		modAgent:       {deps: []string{modCatalog, modIndexes, modEvents, modMetrics}, init: initAgent, run: runAgent},
		modAdminServer: {deps: []string{modMetrics}, init: initAdminServer, run: runServer},
		modJobPool:     {deps: []string{modCatalog, modIndexes, modEvents, modMetrics}, init: initJobPool},

		// The block cache comes first in the reading roles so that the
		// catalog opens its buckets through it.
		TargetAll:      {deps: []string{modBlockCache, modServer, modAgent}},
		TargetQuery:    {deps: []string{modFleet, modServer}},
		TargetExecutor: {deps: []string{modBlockCache, modFlight, modAdminServer}},
		TargetAgent:    {deps: []string{modAgent, modAdminServer}},
		TargetIndexer:  {deps: []string{modJobPool, modAdminServer}},
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
