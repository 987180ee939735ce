module nethttp-bench-peers

go 1.19
