/* An intrusive, circular, doubly linked list with a sentinel head: a node
 * can leave any list in O(1) without knowing which list holds it. */
#ifndef IPCQ_LIST_H
#define IPCQ_LIST_H
#include <stdbool.h>
#include <stddef.h>

typedef struct list_link {
    struct list_link *prev, *next;
} list_link;

#define LIST_ENTRY(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void
list_init(list_link *head)
{
    head->prev = head->next = head;
}

static inline bool
list_empty(const list_link *head)
{
    return head->next == head;
}

/* A node that was never inserted or was removed points at itself. */
static inline bool
list_linked(const list_link *node)
{
    return node->next != node && node->next != NULL;
}

static inline void
list_push_back(list_link *head, list_link *node)
{
    node->prev = head->prev;
    node->next = head;
    head->prev->next = node;
    head->prev = node;
}

static inline void
list_remove(list_link *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node->next = node;
}

static inline list_link *
list_first(const list_link *head)
{
    return list_empty(head) ? NULL : head->next;
}

#endif
