// The one C header OmniStock's gRPC layer needs: libnghttp2's public API (Debian libnghttp2-dev).
#ifndef OMNISTOCK_CNGHTTP2_SHIM_H
#define OMNISTOCK_CNGHTTP2_SHIM_H
#include <nghttp2/nghttp2.h>
#endif
