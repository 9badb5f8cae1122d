// Implements CPhoneNumber.h over libphonenumber 8.12 and its offline geocoder.

#include "CPhoneNumber.h"

#include <cstring>
#include <string>

#include <phonenumbers/geocoding/phonenumber_offline_geocoder.h>
#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>
#include <unicode/locid.h>
#include <unicode/unistr.h>

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberOfflineGeocoder;
using i18n::phonenumbers::PhoneNumberUtil;

namespace {

// NANP numbers all have country calling code 1.
constexpr int kNANPCountryCode = 1;

const PhoneNumberUtil &phoneNumberUtil() {
    // GetInstance builds the singleton once, thread-safely, and never frees it.
    return *PhoneNumberUtil::GetInstance();
}

const PhoneNumberOfflineGeocoder &geocoder() {
    // C++11 guarantees that a function-local static is constructed exactly once, even when several threads
    // arrive at the same time. The geocoder's const methods lock its own mutex before loading a table.
    static const PhoneNumberOfflineGeocoder instance;
    return instance;
}

const icu::Locale &englishLocale() {
    static const icu::Locale locale("en");
    return locale;
}

// Clears `buffer` so that callers never read stale text after a failure.
void clear(char *buffer, size_t capacity) {
    if (buffer != nullptr && capacity > 0) {
        buffer[0] = '\0';
    }
}

// Copies `value` with its NUL terminator, or returns PHONE_NUMBER_BUFFER_TOO_SMALL.
int copyOut(const std::string &value, char *buffer, size_t capacity) {
    if (value.size() + 1 > capacity) {
        clear(buffer, capacity);
        return PHONE_NUMBER_BUFFER_TOO_SMALL;
    }
    std::memcpy(buffer, value.c_str(), value.size() + 1);
    return PHONE_NUMBER_OK;
}

// Parses an E.164 string and requires the result to be valid.
int parseValid(const char *e164, PhoneNumber *number) {
    // "ZZ" is libphonenumber's unknown region, so only text with a leading '+' parses.
    const PhoneNumberUtil::ErrorType error = phoneNumberUtil().Parse(e164, "ZZ", number);
    if (error != PhoneNumberUtil::NO_PARSING_ERROR) {
        return PHONE_NUMBER_NOT_A_NUMBER;
    }
    if (!phoneNumberUtil().IsValidNumber(*number)) {
        return PHONE_NUMBER_INVALID_NUMBER;
    }
    return PHONE_NUMBER_OK;
}

// Returns the English name of a region ("United States" for "US"), as the geocoder spells it when it has
// nothing finer than the country.
std::string englishCountryName(const std::string &regionCode) {
    icu::UnicodeString name;
    icu::Locale("", regionCode.c_str()).getDisplayCountry(englishLocale(), name);
    std::string utf8;
    name.toUTF8String(utf8);
    return utf8;
}

int normalize(const char *raw, const char *defaultRegion, char *e164, size_t capacity) {
    PhoneNumber number;
    const PhoneNumberUtil::ErrorType error = phoneNumberUtil().Parse(raw, defaultRegion, &number);
    if (error != PhoneNumberUtil::NO_PARSING_ERROR) {
        return PHONE_NUMBER_NOT_A_NUMBER;
    }
    if (!phoneNumberUtil().IsValidNumber(number)) {
        return PHONE_NUMBER_INVALID_NUMBER;
    }

    std::string formatted;
    phoneNumberUtil().Format(number, PhoneNumberUtil::E164, &formatted);
    return copyOut(formatted, e164, capacity);
}

int locate(const char *e164, char *regionCode, size_t regionCodeCapacity, char *area, size_t areaCapacity) {
    PhoneNumber number;
    const int parsed = parseValid(e164, &number);
    if (parsed != PHONE_NUMBER_OK) {
        return parsed;
    }

    std::string region;
    phoneNumberUtil().GetRegionCodeForNumber(number, &region);

    // The geocoder falls back to the country's name when it has nothing finer. Callers get an empty area then,
    // so that "United States" is never mistaken for a city.
    std::string description = geocoder().GetDescriptionForNumber(number, englishLocale());
    if (description == englishCountryName(region)) {
        description.clear();
    }

    const int regionStatus = copyOut(region, regionCode, regionCodeCapacity);
    if (regionStatus != PHONE_NUMBER_OK) {
        clear(area, areaCapacity);
        return regionStatus;
    }
    const int areaStatus = copyOut(description, area, areaCapacity);
    if (areaStatus != PHONE_NUMBER_OK) {
        clear(regionCode, regionCodeCapacity);
    }
    return areaStatus;
}

int isGeographicNANP(const char *e164, int *isGeographic) {
    PhoneNumber number;
    const int parsed = parseValid(e164, &number);
    if (parsed != PHONE_NUMBER_OK) {
        return parsed;
    }
    if (number.country_code() != kNANPCountryCode) {
        return PHONE_NUMBER_NOT_NANP;
    }

    *isGeographic = phoneNumberUtil().IsNumberGeographical(number) ? 1 : 0;
    return PHONE_NUMBER_OK;
}

}  // namespace

// The exported functions check their arguments, then run the work inside try/catch: a C++ exception must not
// unwind through Swift frames, so every failure becomes PHONE_NUMBER_INTERNAL_ERROR.

extern "C" int phone_number_normalize(const char *raw, const char *default_region, char *e164,
                                      size_t e164_capacity) {
    clear(e164, e164_capacity);
    if (raw == nullptr || default_region == nullptr || e164 == nullptr || e164_capacity == 0) {
        return PHONE_NUMBER_INVALID_ARGUMENT;
    }
    try {
        return normalize(raw, default_region, e164, e164_capacity);
    } catch (...) {
        clear(e164, e164_capacity);
        return PHONE_NUMBER_INTERNAL_ERROR;
    }
}

extern "C" int phone_number_locate(const char *e164, char *region_code, size_t region_code_capacity,
                                   char *area, size_t area_capacity) {
    clear(region_code, region_code_capacity);
    clear(area, area_capacity);
    if (e164 == nullptr || region_code == nullptr || region_code_capacity == 0 || area == nullptr ||
        area_capacity == 0) {
        return PHONE_NUMBER_INVALID_ARGUMENT;
    }
    try {
        return locate(e164, region_code, region_code_capacity, area, area_capacity);
    } catch (...) {
        clear(region_code, region_code_capacity);
        clear(area, area_capacity);
        return PHONE_NUMBER_INTERNAL_ERROR;
    }
}

extern "C" int phone_number_is_geographic_nanp(const char *e164, int *is_geographic) {
    if (e164 == nullptr || is_geographic == nullptr) {
        return PHONE_NUMBER_INVALID_ARGUMENT;
    }
    *is_geographic = 0;
    try {
        return isGeographicNANP(e164, is_geographic);
    } catch (...) {
        *is_geographic = 0;
        return PHONE_NUMBER_INTERNAL_ERROR;
    }
}
