/* Keeps the test-support library non-empty before any helper exists. */
typedef int llmgw_testsupport_empty_t;
