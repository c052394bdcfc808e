from django.urls import path

from . import views, views_companies, views_lists

app_name = "baseclients"

urlpatterns = [
    path("", views.client_list, name="list"),
    path("<int:pk>/", views.client_detail, name="detail"),
    path("<int:pk>/score/", views.client_score, name="score"),
    path("<int:pk>/card/", views.referral_card, name="card"),
    path("<int:pk>/edit/", views.client_edit, name="edit"),
    path("<int:pk>/vehicles/add/", views.vehicle_add, name="vehicle_add"),
    path("<int:pk>/contacts/", views.contact_log, name="contact_log"),
    path("<int:pk>/do-not-contact/", views.do_not_contact, name="do_not_contact"),
    path("vehicles/<int:pk>/edit/", views.vehicle_edit, name="vehicle_edit"),
    path("deals/<int:pk>/deliver/", views.deal_deliver, name="deal_deliver"),
    path("care/", views.care_queue, name="care_queue"),
    path("care/<int:pk>/done/", views.care_done, name="care_done"),
    path("care/<int:pk>/skip/", views.care_skip, name="care_skip"),
    path("settings/", views.group_settings, name="settings"),
    path("settings/lists/", views_lists.lists_settings, name="lists"),
    path("analyses/", views.analyses, name="analyses"),
    path("visit-hint/", views.visit_hint, name="visit_hint"),
    path("referrer-search/", views.referrer_search, name="referrer_search"),
    path("leads/<int:lead_pk>/referrer/", views.lead_referrer, name="lead_referrer"),
    path("leads/<int:lead_pk>/company/", views_companies.lead_company, name="lead_company"),
    path("companies/", views_companies.company_list_page, name="companies"),
    path("companies/new/", views_companies.company_form, name="company_new"),
    path("companies/<int:pk>/", views_companies.company_detail, name="company"),
    path("companies/<int:pk>/edit/", views_companies.company_form, name="company_edit"),
]
