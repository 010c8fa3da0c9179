/* cp_access: the role × class matrix. See cp_access.h. */
#include "cp_access.h"

#include <string.h>

enum { ROLE_ADMIN = 1u << 0, ROLE_OPERATOR = 1u << 1, ROLE_AUDITOR = 1u << 2 };

static const struct {
    const char *name;
    unsigned roles;
} cp_access_classes[] = {
    [CP_ACCESS_REGISTRY] = {"registry", ROLE_ADMIN | ROLE_OPERATOR},
    [CP_ACCESS_KEYS] = {"keys", ROLE_ADMIN | ROLE_OPERATOR},
    [CP_ACCESS_BUDGETS_READ] = {"budgets.read", ROLE_ADMIN | ROLE_AUDITOR},
    [CP_ACCESS_BUDGETS_WRITE] = {"budgets.write", ROLE_ADMIN},
    [CP_ACCESS_POLICIES] = {"policies", ROLE_ADMIN},
    [CP_ACCESS_TOKENS] = {"tokens", ROLE_ADMIN},
    [CP_ACCESS_AUDIT] = {"audit", ROLE_ADMIN | ROLE_AUDITOR},
    [CP_ACCESS_USAGE_READ] = {"usage.read", ROLE_ADMIN | ROLE_AUDITOR},
    [CP_ACCESS_NODES] = {"nodes", ROLE_ADMIN | ROLE_OPERATOR},
    [CP_ACCESS_ANALYTICS_READ] = {"analytics.read", ROLE_ADMIN | ROLE_OPERATOR | ROLE_AUDITOR},
    [CP_ACCESS_REGISTRY_READ] = {"registry.read", ROLE_ADMIN | ROLE_OPERATOR | ROLE_AUDITOR},
};
#define CP_ACCESS_N (sizeof(cp_access_classes) / sizeof(cp_access_classes[0]))

static unsigned cp_access_role_bit(const char *role)
{
    if (!role)
        return 0;
    if (strcmp(role, "admin") == 0)
        return ROLE_ADMIN;
    if (strcmp(role, "operator") == 0)
        return ROLE_OPERATOR;
    if (strcmp(role, "auditor") == 0)
        return ROLE_AUDITOR;
    return 0;
}

bool cp_access_allows(const char *role, cp_access_t cls)
{
    if ((size_t)cls >= CP_ACCESS_N || !cp_access_classes[cls].name)
        return false;
    return (cp_access_classes[cls].roles & cp_access_role_bit(role)) != 0;
}

const char *cp_access_name(cp_access_t cls)
{
    if ((size_t)cls >= CP_ACCESS_N || !cp_access_classes[cls].name)
        return "unknown";
    return cp_access_classes[cls].name;
}
