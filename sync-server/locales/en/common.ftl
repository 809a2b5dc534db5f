# Every page: the frame, the language switch, error pages, labels of
# statistics shared by several pages.

skip-to-content = Skip to content
lang-switch-label = Language

error-too-many-title = Too many attempts
error-too-many-text = There were too many attempts from this address. Wait a little and try again.
error-not-found-title = Page not found
error-not-found-text = There is no such page. Check the link.
error-forbidden-title = Form refused
error-forbidden-text = The form is out of date or was sent from another site. Reload the page and try again.
error-not-permitted-title = Not permitted
error-not-permitted-text = This page or action is not available to you. Ask the owner.
error-bad-request-title = Bad request
error-bad-request-text = The request could not be read.
error-internal-title = Something went wrong
error-internal-text = The server failed. Try again later.

gender-female = Women
gender-male = Men
gender-unknown = Not given
age-under-25 = under 25
age-unknown = age not given

promotion-status-planned = planned
promotion-status-over = over
promotion-status-running = running
period-open = no end date
period-from = from { $from }
period-until = until { $until }
period-between = { $from } to { $until }
discount-special-price = price { $price }
discount-nth-item = { $n ->
    [2] every 2nd item
    [3] every 3rd item
   *[other] every { $n }th item
} −{ $percent }
discount-bundle = bundle for { $price }
discount-more-points = more points
discount-extra-points = +{ $points } points
