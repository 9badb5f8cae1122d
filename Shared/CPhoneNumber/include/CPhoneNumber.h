// C interface to libphonenumber 8.12 (C++), so that Swift can call it without C++ interoperability.
//
// Every function takes NUL-terminated UTF-8 strings, writes NUL-terminated results into buffers the caller
// owns, and returns a `PhoneNumberStatus` value. On any status other than `PHONE_NUMBER_OK`, the output
// buffers hold empty strings (when their capacity is at least 1). No function throws a C++ exception, keeps
// a pointer it was given, or allocates memory the caller has to free.
//
// All functions are safe to call from any thread at the same time. libphonenumber builds its `PhoneNumberUtil`
// singleton once under `pthread_once` and guards the shared regular-expression cache with a lock. The offline
// geocoder is built once and guards its lazily loaded tables with its own mutex.

#ifndef RINGTRAIL_CPHONENUMBER_H
#define RINGTRAIL_CPHONENUMBER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Result of every function in this header.
enum PhoneNumberStatus {
    PHONE_NUMBER_OK = 0,
    /// An argument pointer was NULL or an output capacity was 0.
    PHONE_NUMBER_INVALID_ARGUMENT = 1,
    /// libphonenumber could not parse the text as a phone number.
    PHONE_NUMBER_NOT_A_NUMBER = 2,
    /// The text parsed, but the number is not valid in its country's numbering plan.
    PHONE_NUMBER_INVALID_NUMBER = 3,
    /// An output buffer was too small for the result, including its NUL terminator.
    PHONE_NUMBER_BUFFER_TOO_SMALL = 4,
    /// The number is outside the North American Numbering Plan (country calling code 1).
    PHONE_NUMBER_NOT_NANP = 5,
    /// libphonenumber or the C++ runtime failed, for example because memory ran out.
    PHONE_NUMBER_INTERNAL_ERROR = 6,
};

/// Parses `raw` and writes the number in E.164 form (`+12125550147`) to `e164`.
///
/// `default_region` is the CLDR region code (`"US"`, `"GB"`) used for numbers written without a country
/// calling code. The number must be valid, not only possible, in its country's numbering plan.
/// An E.164 number has at most 15 digits, so a capacity of 17 bytes is always enough.
/// Returns `PHONE_NUMBER_NOT_A_NUMBER` or `PHONE_NUMBER_INVALID_NUMBER` when `raw` is not a usable number.
int phone_number_normalize(const char *raw, const char *default_region, char *e164, size_t e164_capacity);

/// Writes the region code of the E.164 number `e164` to `region_code` and, when the offline geocoder has a
/// place smaller than the country, its English description (`"New York, NY"`, `"London"`) to `area`.
///
/// `region_code` receives a two-letter CLDR code (`"US"`, `"GB"`); 3 bytes are enough. `area` receives an
/// empty string when the geocoder has nothing finer than the country, as for toll-free numbers and for mobile
/// numbers in countries that give mobiles their own prefixes.
/// Returns `PHONE_NUMBER_NOT_A_NUMBER` or `PHONE_NUMBER_INVALID_NUMBER` when `e164` is not a valid number
/// written with a leading `+`.
int phone_number_locate(const char *e164, char *region_code, size_t region_code_capacity, char *area,
                        size_t area_capacity);

/// Stores in `is_geographic` whether the E.164 number `e164` belongs to a geographic area: 1 for fixed-line
/// and mobile numbers tied to an area code, 0 for toll-free, premium-rate and other non-geographic numbers.
///
/// Returns `PHONE_NUMBER_NOT_NANP` for numbers outside country calling code 1, and
/// `PHONE_NUMBER_NOT_A_NUMBER` or `PHONE_NUMBER_INVALID_NUMBER` when `e164` is not a valid number written with
/// a leading `+`.
int phone_number_is_geographic_nanp(const char *e164, int *is_geographic);

#ifdef __cplusplus
}
#endif

#endif
