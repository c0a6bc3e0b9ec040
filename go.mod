module github.com/sarissa-db/sarissa

go 1.26
