// See include/cprotobuf_bench.h.
#include "cprotobuf_bench.h"

#include <stdlib.h>
#include <string.h>

#include "omnistock/v1/availability.pb-c.h"
#include "omnistock/v1/ingest.pb-c.h"

static char *copy_string(const char *s) {
  size_t n = strlen(s) + 1;
  char *copy = malloc(n);
  if (copy) memcpy(copy, s, n);
  return copy;
}

// ---- EventBatch -------------------------------------------------------------------------------

struct cpb_event_batch {
  Omnistock__V1__EventBatch message;
  Omnistock__V1__StockEvent *storage;  // `capacity` events; message.events points into it
  size_t capacity;
};

cpb_event_batch *cpb_event_batch_create(const char *batch_id, size_t capacity) {
  cpb_event_batch *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  omnistock__v1__event_batch__init(&b->message);
  b->storage = calloc(capacity ? capacity : 1, sizeof *b->storage);
  b->message.events = calloc(capacity ? capacity : 1, sizeof *b->message.events);
  b->message.batch_id = copy_string(batch_id);
  b->capacity = capacity;
  if (!b->storage || !b->message.events || !b->message.batch_id) {
    cpb_event_batch_destroy(b);
    return NULL;
  }
  return b;
}

bool cpb_event_batch_add(cpb_event_batch *b, const char *device_id, uint64_t device_seq,
                         const char *location_id, const char *sku, int32_t type, int64_t quantity,
                         int64_t event_time_unix_ms, int32_t reason, const char *reference) {
  if (b->message.n_events >= b->capacity) return false;
  Omnistock__V1__StockEvent *e = &b->storage[b->message.n_events];
  omnistock__v1__stock_event__init(e);
  e->device_id = copy_string(device_id);
  e->device_seq = device_seq;
  e->location_id = copy_string(location_id);
  e->sku = copy_string(sku);
  e->type = (Omnistock__V1__EventType)type;
  e->quantity = quantity;
  e->event_time_unix_ms = event_time_unix_ms;
  e->reason = (Omnistock__V1__AdjustmentReason)reason;
  e->reference = copy_string(reference);
  b->message.events[b->message.n_events++] = e;
  return e->device_id && e->location_id && e->sku && e->reference;
}

void cpb_event_batch_destroy(cpb_event_batch *b) {
  if (!b) return;
  for (size_t i = 0; i < b->message.n_events; i++) {
    Omnistock__V1__StockEvent *e = &b->storage[i];
    free(e->device_id);
    free(e->location_id);
    free(e->sku);
    free(e->reference);
  }
  free(b->message.batch_id);
  free(b->message.events);
  free(b->storage);
  free(b);
}

size_t cpb_event_batch_packed_size(const cpb_event_batch *b) {
  return omnistock__v1__event_batch__get_packed_size(&b->message);
}

size_t cpb_event_batch_pack(const cpb_event_batch *b, uint8_t *out) {
  return omnistock__v1__event_batch__pack(&b->message, out);
}

int64_t cpb_event_batch_parse_check(const uint8_t *data, size_t length, int64_t *sum_quantity) {
  Omnistock__V1__EventBatch *m = omnistock__v1__event_batch__unpack(NULL, length, data);
  if (!m) return -1;
  int64_t sum = 0;
  for (size_t i = 0; i < m->n_events; i++) sum += m->events[i]->quantity;
  if (sum_quantity) *sum_quantity = sum;
  int64_t n = (int64_t)m->n_events;
  omnistock__v1__event_batch__free_unpacked(m, NULL);
  return n;
}

uint64_t cpb_bench_event_batch_encode(const cpb_event_batch *b, uint64_t iterations) {
  uint64_t total = 0;
  for (uint64_t i = 0; i < iterations; i++) {
    size_t size = omnistock__v1__event_batch__get_packed_size(&b->message);
    uint8_t *buffer = malloc(size);
    if (!buffer) return 0;
    total += omnistock__v1__event_batch__pack(&b->message, buffer);
    // Read one byte back so the packed buffer is observably used.
    total += buffer[size - 1] & 1;
    free(buffer);
  }
  return total;
}

uint64_t cpb_bench_event_batch_decode(const uint8_t *data, size_t length, uint64_t iterations) {
  uint64_t total = 0;
  for (uint64_t i = 0; i < iterations; i++) {
    Omnistock__V1__EventBatch *m = omnistock__v1__event_batch__unpack(NULL, length, data);
    if (!m) return 0;
    total += m->n_events;
    omnistock__v1__event_batch__free_unpacked(m, NULL);
  }
  return total;
}

// ---- BatchGetAvailabilityResponse ------------------------------------------------------------

struct cpb_availability_response {
  Omnistock__V1__BatchGetAvailabilityResponse message;
  Omnistock__V1__AvailabilityResult *results;      // `capacity` results
  Omnistock__V1__PositionAvailability *positions;  // one per result
  size_t capacity;
};

cpb_availability_response *cpb_availability_response_create(uint64_t index_lsn, size_t capacity) {
  cpb_availability_response *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  omnistock__v1__batch_get_availability_response__init(&r->message);
  r->message.index_lsn = index_lsn;
  size_t n = capacity ? capacity : 1;
  r->results = calloc(n, sizeof *r->results);
  r->positions = calloc(n, sizeof *r->positions);
  r->message.results = calloc(n, sizeof *r->message.results);
  r->capacity = capacity;
  if (!r->results || !r->positions || !r->message.results) {
    cpb_availability_response_destroy(r);
    return NULL;
  }
  return r;
}

bool cpb_availability_response_add(cpb_availability_response *r, const char *sku,
                                   const char *location_id, int64_t on_hand, int64_t reserved,
                                   int64_t safety_stock, int64_t available, int32_t status,
                                   uint64_t lsn, int64_t updated_at_unix_ms,
                                   int64_t source_time_unix_ms, bool exists) {
  size_t i = r->message.n_results;
  if (i >= r->capacity) return false;
  Omnistock__V1__PositionAvailability *p = &r->positions[i];
  omnistock__v1__position_availability__init(p);
  p->sku = copy_string(sku);
  p->target_case = OMNISTOCK__V1__POSITION_AVAILABILITY__TARGET_LOCATION_ID;
  p->location_id = copy_string(location_id);
  p->on_hand = on_hand;
  p->reserved = reserved;
  p->safety_stock = safety_stock;
  p->available = available;
  p->status = (Omnistock__V1__StockStatus)status;
  p->lsn = lsn;
  p->updated_at_unix_ms = updated_at_unix_ms;
  p->source_time_unix_ms = source_time_unix_ms;
  p->exists = exists;
  Omnistock__V1__AvailabilityResult *result = &r->results[i];
  omnistock__v1__availability_result__init(result);
  result->result_case = OMNISTOCK__V1__AVAILABILITY_RESULT__RESULT_AVAILABILITY;
  result->availability = p;
  r->message.results[r->message.n_results++] = result;
  return p->sku && p->location_id;
}

void cpb_availability_response_destroy(cpb_availability_response *r) {
  if (!r) return;
  for (size_t i = 0; i < r->message.n_results; i++) {
    free(r->positions[i].sku);
    free(r->positions[i].location_id);
  }
  free(r->message.results);
  free(r->results);
  free(r->positions);
  free(r);
}

size_t cpb_availability_response_packed_size(const cpb_availability_response *r) {
  return omnistock__v1__batch_get_availability_response__get_packed_size(&r->message);
}

size_t cpb_availability_response_pack(const cpb_availability_response *r, uint8_t *out) {
  return omnistock__v1__batch_get_availability_response__pack(&r->message, out);
}

int64_t cpb_availability_response_parse_check(const uint8_t *data, size_t length,
                                              int64_t *sum_available) {
  Omnistock__V1__BatchGetAvailabilityResponse *m =
      omnistock__v1__batch_get_availability_response__unpack(NULL, length, data);
  if (!m) return -1;
  int64_t sum = 0;
  for (size_t i = 0; i < m->n_results; i++) {
    const Omnistock__V1__AvailabilityResult *result = m->results[i];
    if (result->result_case == OMNISTOCK__V1__AVAILABILITY_RESULT__RESULT_AVAILABILITY)
      sum += result->availability->available;
  }
  if (sum_available) *sum_available = sum;
  int64_t n = (int64_t)m->n_results;
  omnistock__v1__batch_get_availability_response__free_unpacked(m, NULL);
  return n;
}

uint64_t cpb_bench_availability_response_encode(const cpb_availability_response *r,
                                                uint64_t iterations) {
  uint64_t total = 0;
  for (uint64_t i = 0; i < iterations; i++) {
    size_t size = omnistock__v1__batch_get_availability_response__get_packed_size(&r->message);
    uint8_t *buffer = malloc(size);
    if (!buffer) return 0;
    total += omnistock__v1__batch_get_availability_response__pack(&r->message, buffer);
    total += buffer[size - 1] & 1;
    free(buffer);
  }
  return total;
}

uint64_t cpb_bench_availability_response_decode(const uint8_t *data, size_t length,
                                                uint64_t iterations) {
  uint64_t total = 0;
  for (uint64_t i = 0; i < iterations; i++) {
    Omnistock__V1__BatchGetAvailabilityResponse *m =
        omnistock__v1__batch_get_availability_response__unpack(NULL, length, data);
    if (!m) return 0;
    total += m->n_results;
    omnistock__v1__batch_get_availability_response__free_unpacked(m, NULL);
  }
  return total;
}

const char *cpb_protobuf_c_version(void) { return protobuf_c_version(); }
