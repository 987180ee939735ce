module nethttp-test-goh2

go 1.19
