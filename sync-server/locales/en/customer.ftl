# The customer's pages: the card on the phone, sign-up, codes, lost-link
# recovery, a message's link and unsubscribing.

customer-card = loyalty card
customer-card-title = Loyalty card
customer-greeting = Hello, { $name }!
customer-card-for-till = Card for the till
customer-qr-label = QR code of the card for the till
customer-token-hint = Show the code at the till. It renews itself and is valid until
customer-token-stale = No connection: the code may be out of date. Reload the page.
customer-card-number = Card number
customer-balance = Balance and tier
customer-points = Points
customer-tier = Tier
customer-next-tier = { $remaining } more to reach “{ $tier }”
customer-offers-now = Offers now
customer-no-ratings = No ratings yet
customer-rating-summary = { $average } of 5 · { $reviews ->
    [one] { $reviews } rating
   *[other] { $reviews } ratings
}
customer-share = Share
customer-copy-link = Copy link
customer-share-link = Link for friends
customer-your-rating = Your rating: { $stars } of 5 — change
customer-rate = Rate and review
customer-rating = Rating
customer-review = Review
customer-save-review = Save review
customer-no-offers = No offers right now — come back later.
customer-recent-purchases = Recent purchases
customer-no-purchases = No purchases yet.
customer-return = return
customer-points-short = { $points } pts
customer-points-pending = { $points } pts pending until { $day }
customer-points-held = { $points } pts being checked by the store
customer-points-expiring = { $points } pts expire on { $day }
review-error-rating = Rating: choose from 1 to 5 stars
review-error-too-long = Review: 1000 characters at most

join-offer-sent = Someone sent you an offer
join-rating-of-5 = { $rating } of 5
join-title = Get a card
join-lead = Discounts and points by a QR code on your phone — no plastic cards.
join-name = Name
join-phone = Phone
join-or-email = or e-mail
join-optional = Optional: gender and date of birth
join-gender = Gender
join-gender-none = prefer not to say
join-gender-female = female
join-gender-male = male
join-birth-date = Date of birth
join-consent = I agree to the processing of my personal data for the loyalty programme
join-submit = Get my card
join-lost-link = Already have a card but lost the link?
join-error-email-undeliverable = E-mail: the code could not be sent to this address, check it
join-error-phone-undeliverable = Phone: the code could not be sent to this number, check it
join-error-phone-taken = Phone: this number is already registered. The till will give you the link to your page.
join-notice-code-expired = The code has expired or was entered wrongly too many times. Fill in the form again.
join-notice-phone-taken = This number is already registered. The till will give you the link to your page.
join-error-name-required = Name: required
join-error-name-too-long = Name: 100 characters at most
join-error-phone-invalid = Phone: for example +7 916 123-45-67
join-error-email-invalid = E-mail: for example anna@example.com
join-error-contact-required = Phone or e-mail: give at least one so that we can reach you
join-error-birth-date = Date of birth: for example 1990-06-15
join-error-consent = Consent: without it we cannot open a card

confirm-code-title = code
confirm-title = Confirm your address
confirm-lead = We have sent a code. Enter it to get your card.
confirm-code = Code
confirm-submit = Confirm
code-error-wrong = The code does not match: check it

recover-page-title = card link
recover-title = Get your card link back
recover-code-lead = If we know this address, we have sent a code to it. Enter it: your card opens, and the old link stops working.
recover-open-card = Open card
recover-lead = Give the phone or e-mail you signed up with: we will send a code.
recover-contact = Phone or e-mail
recover-send-code = Send code
recover-error-contact-invalid = Phone or e-mail: for example +7 916 123-45-67 or anna@example.com
recover-error-no-channel = A code cannot be sent there: give another way to reach you
recover-error-undeliverable = The code could not be sent: check the address
recover-error-expired = The code has expired or was entered wrongly too many times: ask for a new one

message-open-card = Open my card
message-code-note = We will send a code to your phone or e-mail, and it opens your loyalty card.
unsubscribe-page-title = Unsubscribe
unsubscribe-done = You are unsubscribed
unsubscribe-ask = Unsubscribe?
unsubscribe-email = Stop sending offers by e-mail
unsubscribe-sms = Stop sending offers by SMS
unsubscribe-email-done = We will not send you offers by e-mail any more.
unsubscribe-sms-done = We will not send you offers by SMS any more.
