// A small C API over the protobuf-c code generated from proto/omnistock/v1, for codec-bench.
//
// Swift hands the C side the same field values it puts into its own swift-protobuf messages (one
// `*_add` call per repeated element); the C side copies the strings and builds its own protobuf-c
// message structs from them. The `*_bench_*` functions then run the whole timed loop in C, so the C
// figures carry no Swift call overhead per message. They return a checksum that the caller must
// consume, so the compiler cannot drop the work.
//
// Per iteration, encode = get_packed_size + malloc + pack + free (swift-protobuf's serializedBytes()
// likewise sizes, allocates and fills a fresh array); decode = unpack (allocating every nested
// message and string) + free_unpacked (swift-protobuf frees its message when it goes out of scope).
#ifndef CPROTOBUF_BENCH_H
#define CPROTOBUF_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---- omnistock.v1.EventBatch ----------------------------------------------------------------

typedef struct cpb_event_batch cpb_event_batch;

/// A new, empty batch with room for `capacity` events. NULL if out of memory.
cpb_event_batch *cpb_event_batch_create(const char *batch_id, size_t capacity);
/// Appends one StockEvent (strings are copied). False if the batch is full or out of memory.
bool cpb_event_batch_add(cpb_event_batch *batch, const char *device_id, uint64_t device_seq,
                         const char *location_id, const char *sku, int32_t type, int64_t quantity,
                         int64_t event_time_unix_ms, int32_t reason, const char *reference);
void cpb_event_batch_destroy(cpb_event_batch *batch);
/// Serialized size in bytes.
size_t cpb_event_batch_packed_size(const cpb_event_batch *batch);
/// Serializes into `out` (at least cpb_event_batch_packed_size bytes); returns the bytes written.
size_t cpb_event_batch_pack(const cpb_event_batch *batch, uint8_t *out);
/// Decodes `data`; returns the number of events, or -1 if it does not parse. `sum_quantity`
/// (optional) receives the sum of the events' quantities, to check the decode.
int64_t cpb_event_batch_parse_check(const uint8_t *data, size_t length, int64_t *sum_quantity);

/// Encodes `batch` `iterations` times; returns the sum of the encoded sizes (0 on failure).
uint64_t cpb_bench_event_batch_encode(const cpb_event_batch *batch, uint64_t iterations);
/// Decodes `data` `iterations` times; returns the sum of the decoded event counts (0 on failure).
uint64_t cpb_bench_event_batch_decode(const uint8_t *data, size_t length, uint64_t iterations);

// ---- omnistock.v1.BatchGetAvailabilityResponse --------------------------------------------

typedef struct cpb_availability_response cpb_availability_response;

/// A new, empty response with room for `capacity` results. NULL if out of memory.
cpb_availability_response *cpb_availability_response_create(uint64_t index_lsn, size_t capacity);
/// Appends one AvailabilityResult holding a PositionAvailability with `location_id` as its target
/// (strings are copied). False if the response is full or out of memory.
bool cpb_availability_response_add(cpb_availability_response *response, const char *sku,
                                   const char *location_id, int64_t on_hand, int64_t reserved,
                                   int64_t safety_stock, int64_t available, int32_t status,
                                   uint64_t lsn, int64_t updated_at_unix_ms,
                                   int64_t source_time_unix_ms, bool exists);
void cpb_availability_response_destroy(cpb_availability_response *response);
size_t cpb_availability_response_packed_size(const cpb_availability_response *response);
size_t cpb_availability_response_pack(const cpb_availability_response *response, uint8_t *out);
/// Decodes `data`; returns the number of results, or -1 if it does not parse. `sum_available`
/// (optional) receives the sum of the results' `available`.
int64_t cpb_availability_response_parse_check(const uint8_t *data, size_t length,
                                              int64_t *sum_available);

uint64_t cpb_bench_availability_response_encode(const cpb_availability_response *response,
                                                uint64_t iterations);
uint64_t cpb_bench_availability_response_decode(const uint8_t *data, size_t length,
                                                uint64_t iterations);

/// The protobuf-c library version, e.g. "1.4.1".
const char *cpb_protobuf_c_version(void);

#ifdef __cplusplus
}
#endif

#endif  // CPROTOBUF_BENCH_H
