//! Go's `DumpRequest`, `DumpRequestOut` and `DumpResponse`.
